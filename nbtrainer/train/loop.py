"""The training loop of :class:`nbtrainer.Learner` (fastai's event loop, without its magic): a fit's epochs,
each one's training batches and validation, one optimizer step, each part run through
:meth:`~nbtrainer.train.callbacks.EventLoop._with_events` so that callbacks see its events and may cancel it.
``Learner`` inherits it; :meth:`Learner.fit` sets the loop's state up and calls :meth:`FitLoop._do_epochs`.

Example::

    learn.fit(1e-2, n_cycle=2)   # before_fit, (before_epoch, before_train, batches..., validate, after_epoch) x 2, after_fit
"""
from __future__ import annotations

import math

import torch

from .. import distributed
from ..model.classifier import set_train_mode
from .callbacks import (CancelBatchException, CancelEpochException, CancelTrainException, CancelValidException,
                        InferencePass)
from .guard import GoodState, check_loss


class FitLoop:
    """Methods of :class:`~nbtrainer.Learner` that run a fit's epochs and batches."""

    def _do_epochs(self, dl, scheduler) -> None:
        for epoch in range(self.state.n_epochs):
            self.state.epoch = epoch
            self._with_events(lambda: self._do_epoch(dl, scheduler), "epoch", CancelEpochException)
            if self.state.stop:
                break

    def _do_epoch(self, dl, scheduler) -> None:
        good = GoodState(self) if self.state.guard else None  # a NaN/inf loss puts these back, raises DivergenceError
        self._with_events(lambda: self._do_batches(dl, scheduler, good), "train", CancelTrainException)
        self.state.valid_loss = self.state.accuracy = math.nan  # until validated
        self._validate_part(CancelValidException)

    def _validate_part(self, cancel: type[Exception] | None) -> None:
        """A fit's validation: an inference pass named "validate" (``learner.inference.name`` in its events)
        whose loss and accuracy go into ``state``."""
        self.inference = InferencePass("validate", self.valid_batches())
        try:
            self._with_events(self._do_validate, "validate", cancel)
        finally:
            self.inference = None

    def _do_validate(self) -> None:
        if self._parallel is not None:  # the same BatchNorm statistics on every rank (see broadcast_buffers)
            distributed.broadcast_buffers(self.model)
        self.state.valid_loss, self.state.accuracy = self.validate()

    def _do_batches(self, dl, scheduler, good: GoodState | None) -> None:
        set_train_mode(self.model, self.layer_groups, self.n_frozen, self.config["bn_freeze"])
        self.training = True
        try:
            for xb, yb in dl:
                self._with_events(lambda: self._do_batch(xb, yb, good), "batch", CancelBatchException)
                self.state.iteration += 1
                scheduler.step()
        finally:
            self.training = False

    def _do_batch(self, xb: torch.Tensor, yb: torch.Tensor, good: GoodState | None) -> None:
        self.train_batch(xb, yb)
        if good is not None:
            check_loss(self, good)  # here, so that a batch cancelled before its loss is not checked

    def train_batch(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        """One optimizer step on one batch (``fit`` and ``lr_find`` call it; the model must be in train mode)."""
        s = self.state
        s.xb, s.yb = xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
        s.batch_lrs = [g["lr"] for g in self.opt.param_groups]
        with self.precision.autocast():
            s.pred = self._forward(s.xb)
            s.loss = self.loss_fn(s.pred, s.yb)
        self.run_event("after_loss")
        self.opt.zero_grad(set_to_none=True)
        self.precision.backward_step(s.loss, self.opt)
        if self._parallel is not None:  # every rank records, guards and stops on the same (mean) loss
            s.loss = distributed.mean(s.loss)
