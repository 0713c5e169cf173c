"""Data-parallel training under torch.distributed, as a callback of the fit (Lightning keeps its strategy
out of the loop too): the loop trains ``learner._parallel`` when it is set, and knows nothing else of it.

Under ``torchrun`` (:mod:`nbtrainer.distributed`), :class:`DataParallel`, which every fit has:

- ``before_fit``: wraps what trains (the model, or the head on cached activations) in
  ``DistributedDataParallel``; built anew each fit, as freezing changes which parameters train;
- ``after_step``: the batch's loss becomes the mean over the ranks, so every rank records, guards and
  stops on the same number;
- ``before_validate`` (a fit's own validation) and ``after_fit``: every rank takes rank 0's BatchNorm
  buffers (DDP broadcasts them only before a training forward, so after the last batch each rank holds its
  own update: validating or saving then would use a different model on each rank).

In a single process it does nothing.

Example::

    torchrun --standalone --nproc_per_node 2 -m nbtrainer run     # every fit of the recipe, 2 processes
"""
from __future__ import annotations

from .. import distributed
from .callbacks import Callback


class DataParallel(Callback):
    """See the module's docstring."""

    order = -30  # first: the loss is the ranks' mean before anything reads it

    def before_fit(self) -> None:
        learn = self.learner
        if distributed.current().enabled:
            learn._parallel = distributed.wrap(learn.model.head if learn.precompute else learn.model, learn.device)

    def after_step(self) -> None:
        state = self.learner.state
        if self.learner._parallel is not None:
            state.loss = distributed.mean(state.loss)

    def before_validate(self) -> None:
        inference = self.learner.inference
        if self.learner._parallel is not None and inference is not None and inference.name == "validate":
            distributed.broadcast_buffers(self.learner.model)

    def after_fit(self) -> None:
        if self.learner._parallel is not None:
            distributed.broadcast_buffers(self.learner.model)
            self.learner._parallel = None
