"""Divergence guard: when a fit's training loss stops being finite, put back the weights as they were at
the start of that epoch and raise :class:`DivergenceError` saying so.

At the start of every epoch :class:`GoodState` copies what an epoch can change: the parameters and
BatchNorm buffers of the trainable layer groups and the optimizer state (frozen groups cannot change).
The copy stays on the learner's device: on a GPU a device-to-device copy queued on the stream, with no
host transfer and no sync, at the cost of one copy of the trainable weights and optimizer state in GPU
memory (a few MB for a head, one model's size plus AdamW's two moments for an unfrozen network).

Example::

    try:
        learn.fit(10.0)                 # far too high
    except DivergenceError as e:
        print(e)                        # ...the weights were restored to the start of epoch 1...
        learn.fit(1e-2)                 # the learner is as it was before the bad epoch
"""
from __future__ import annotations

import torch

from .snapshot import copy_to


class DivergenceError(ValueError):
    """The training loss became NaN or infinite; the learner holds the last good weights again."""


class GoodState:
    """The trainable part of a learner at one moment, on its device; :meth:`restore` puts it back in place."""

    def __init__(self, learn):
        trainable = learn.layer_groups[learn.n_frozen:]
        self.tensors = {}
        for group in trainable:
            for name, tensor in [*group.named_parameters(), *group.named_buffers()]:
                self.tensors[(id(group), name)] = (tensor, tensor.detach().clone())
        self.optimizer = copy_to(learn.opt.state_dict(), learn.device)

    @torch.no_grad()
    def restore(self, learn) -> None:
        for tensor, saved in self.tensors.values():
            tensor.copy_(saved)
            tensor.grad = None
        learn.opt.load_state_dict(copy_to(self.optimizer, learn.device))


def check_loss(learn, good: GoodState) -> None:
    """Raise :class:`DivergenceError` (after restoring ``good``) if the last batch's loss is not finite."""
    loss = learn.state.loss_value
    if loss == loss and abs(loss) != float("inf"):
        return
    good.restore(learn)
    state = learn.state
    lrs = ", ".join(f"{lr:.3g}" for lr in state.batch_lrs)
    raise DivergenceError(
        f"fit: the training loss became {loss} at epoch {state.epoch + 1}, batch {state.iteration + 1} of the fit "
        f"(learning rates [{lrs}]); the weights and optimizer state were restored in this learner to the start "
        f"of epoch {state.epoch + 1} (learn.model, learn.opt), so it can fit again: try a lower learning rate "
        f"(learn.lr_find() suggests one)")
