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

import torch
import torch.distributed as dist

from .. import distributed
from .callbacks import Callback


def wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``DistributedDataParallel(module)`` for this rank's device (its gradients are averaged in backward)."""
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def broadcast_buffers(module: torch.nn.Module) -> None:
    """Every rank takes rank 0's buffers (BatchNorm running statistics). DDP broadcasts them at the start of
    each training forward, so after the last batch each rank holds its own batch's update: validating or
    saving then would use a different model on each rank. A no-op in a single process."""
    if distributed.current().enabled:
        for buffer in module.buffers():
            dist.broadcast(buffer, 0)


class DataParallel(Callback):
    """See the module's docstring."""

    order = -30  # first: the loss is the ranks' mean before anything reads it

    def before_fit(self) -> None:
        learn = self.learner
        if distributed.current().enabled:
            learn._parallel = wrap(learn.model.head if learn.precompute else learn.model, learn.device)

    def after_step(self) -> None:
        state = self.learner.state
        if self.learner._parallel is not None:
            state.loss = distributed.mean(state.loss)

    def before_validate(self) -> None:
        inference = self.learner.inference
        if self.learner._parallel is not None and inference is not None and inference.name == "validate":
            broadcast_buffers(self.learner.model)

    def after_fit(self) -> None:
        if self.learner._parallel is not None:
            broadcast_buffers(self.learner.model)
            self.learner._parallel = None
