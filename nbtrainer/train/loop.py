"""The training loop of :class:`nbtrainer.Learner` (fastai's event loop, without its magic): a fit's epochs,
each one's training batches and validation, one optimizer step, each part run through
:meth:`~nbtrainer.train.callbacks.EventLoop._with_events` so that callbacks see its events and may cancel it.
``Learner`` inherits it; :meth:`Learner.run_fit` sets the loop's state up and calls :meth:`FitLoop._do_epochs`.

Example::

    learn.fit(1e-2, n_cycle=2)   # before_fit, (before_epoch, before_train, batches..., validate, after_epoch) x 2, after_fit
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..model.classifier import set_train_mode
from .callbacks import (
    Callback,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelTrainException,
    CancelValidException,
    FitState,
)
from .parallel import DataParallel


class FitLoop:
    """Methods of :class:`~nbtrainer.Learner` that run a fit's epochs and batches: the bare loop. The LR
    schedule, the divergence guard, data parallelism and the cycle ends are callbacks
    (:mod:`~nbtrainer.train.schedule`, :mod:`~nbtrainer.train.guard`, :mod:`~nbtrainer.train.parallel`,
    :mod:`~nbtrainer.train.cycles`); precision is the learner's small strategy object (``learn.precision``)."""

    def run_fit(self, lrs: float | Sequence[float], n_epochs: int, callbacks: Sequence[Callback] = (),
                restarts: Sequence[int] = (0,)) -> None:
        """The bare loop: ``n_epochs`` epochs of training batches and a validation each, at ``lrs``, with the
        learner's callbacks and ``callbacks`` (and :class:`~nbtrainer.train.parallel.DataParallel`); no
        schedule, guard or cycle ends of its own. :meth:`fit` and :func:`~nbtrainer.train.lr_find.lr_find`
        run it with theirs (``restarts``: the epochs where the schedule restarts, for the views)."""
        group_lrs = self.group_lrs(lrs)
        if self.precompute and self.augment:
            raise ValueError("augment=True has no effect while precompute is on (the cache holds plain images); "
                             "set learn.precompute = False to train on augmented images, or learn.augment = False")
        dl = self.train_loader()
        self._pinned = self._activations if self.precompute else None
        for group, lr in zip(self.opt.param_groups, group_lrs):
            group["lr"] = lr
        self.state = FitState(n_epochs=n_epochs, iters_per_epoch=len(dl), cycle_starts=list(restarts))
        try:
            with self.added_callbacks([DataParallel(), *callbacks]):
                self._with_events(lambda: self._do_epochs(dl), "fit", CancelFitException)
        finally:
            self._pinned, self._parallel = None, None
            self.model.eval()

    def train_loader(self):
        """Training batches: images, or cached activations while :attr:`precompute` is on."""
        if self.precompute:
            return self._current_activations().train_loader(self.data.bs, self.data.generator)
        return self.data.train_dl()

    def _forward(self, xb: torch.Tensor) -> torch.Tensor:
        """The training forward pass (through DistributedDataParallel with several ranks)."""
        module = self._parallel or (self.model.head if self.precompute else self.model)
        return module(xb if self.precompute else self._memory_format(xb))

    def _memory_format(self, xb: torch.Tensor) -> torch.Tensor:
        return xb.contiguous(memory_format=torch.channels_last) if self.config["channels_last"] else xb

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
