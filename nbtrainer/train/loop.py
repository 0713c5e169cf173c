"""The training loop of :class:`nbtrainer.Learner` (fastai's event loop, without its magic): a fit's epochs,
each one's training batches and validation, one optimizer step, each part run through
:meth:`~nbtrainer.train.callbacks.EventLoop._with_events` so that callbacks see its events and may cancel it.
``Learner`` inherits it; :meth:`Learner.run_fit` sets the loop's state up and calls :meth:`FitLoop._do_epochs`.

Example::

    learn.fit(1e-2, n_cycle=2)   # before_fit, (before_epoch, before_train, batches..., validate, after_epoch) x 2, after_fit
"""
from __future__ import annotations

import math

import torch

from ..model.classifier import set_train_mode
from .callbacks import CancelBatchException, CancelEpochException, CancelTrainException, CancelValidException


class FitLoop:
    """Methods of :class:`~nbtrainer.Learner` that run a fit's epochs and batches: the bare loop. The LR
    schedule, the divergence guard, data parallelism and the cycle ends are callbacks
    (:mod:`~nbtrainer.train.schedule`, :mod:`~nbtrainer.train.guard`, :mod:`~nbtrainer.train.parallel`,
    :mod:`~nbtrainer.train.cycles`); precision is the learner's small strategy object (``learn.precision``)."""

    def _do_epochs(self, dl) -> None:
        for epoch in range(self.state.n_epochs):
            self.state.epoch = epoch
            self._with_events(lambda: self._do_epoch(dl), "epoch", CancelEpochException)
            if self.state.stop:
                break

    def _do_epoch(self, dl) -> None:
        self._with_events(lambda: self._do_batches(dl), "train", CancelTrainException)
        self.state.valid_loss = self.state.accuracy = math.nan  # until validated
        self._validate_part(CancelValidException)

    def _validate_part(self, cancel: type[Exception] | None) -> None:
        """A fit's validation: an inference pass named "validate" (``learner.inference.name`` in its events)
        whose loss and accuracy go into ``state``; a cancel stays inside the fit."""
        self.inference_pass("validate", self.valid_batches(), self._do_validate, cancel, reraise=False)

    def _do_validate(self) -> None:
        self.state.valid_loss, self.state.accuracy = self.validate()

    def _do_batches(self, dl) -> None:
        set_train_mode(self.model, self.layer_groups, self.n_frozen, self.config["bn_freeze"])
        self.training = True
        try:
            for xb, yb in dl:
                self._with_events(lambda: self.train_batch(xb, yb), "batch", CancelBatchException)
                self.state.iteration += 1
        finally:
            self.training = False

    def train_batch(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        """One optimizer step on one batch (the model must be in train mode); ``after_loss`` before the
        backward pass, ``after_step`` after the optimizer step."""
        s = self.state
        s.xb, s.yb = xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
        s.batch_lrs = [g["lr"] for g in self.opt.param_groups]
        with self.precision.autocast():
            s.pred = self._forward(s.xb)
            s.loss = self.loss_fn(s.pred, s.yb)
        self.run_event("after_loss")
        self.opt.zero_grad(set_to_none=True)
        self.precision.backward_step(s.loss, self.opt)
        self.run_event("after_step")
