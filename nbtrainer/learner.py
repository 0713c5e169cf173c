"""``Learner``: a model, its data and optimizer; fit with SGDR and differential LRs, validate, predict, TTA.

Example::

    data = ImageData.demo(size=64)
    learn = Learner(data)                    # EfficientNet-Lite0, real ImageNet weights, body frozen
    learn.fit(1e-2, n_cycle=2)               # the head, 2 cycles of 1 epoch
    learn.unfreeze()
    learn.fit([1e-2 / 9, 1e-2 / 3, 1e-2], n_cycle=3, cycle_mult=2)   # 1 + 2 + 4 epochs
    probs, targets = learn.tta()
    learn.save("digits.pt")
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from . import checkpoint
from .callbacks import (Callback, CancelBatchException, CancelEpochException, CancelFitException, Recorder,
                        run_event)
from .data import ImageData
from .models import build_model, set_frozen, set_train_mode
from .schedule import sgdr_epochs, sgdr_scheduler

OPTIMIZERS = ("sgd", "adamw")
MIN_MODEL_SIZE = 32  # every supported body downsamples by 32


@dataclass
class FitState:
    """What the loop is doing now; callbacks read it through ``learner.state``."""

    n_epochs: int = 0
    iters_per_epoch: int = 0
    epoch: int = 0
    iteration: int = 0
    batch_lrs: list[float] = field(default_factory=list)
    xb: torch.Tensor | None = None
    yb: torch.Tensor | None = None
    pred: torch.Tensor | None = None
    loss: torch.Tensor | float = math.nan
    valid_loss: float = math.nan
    accuracy: float = math.nan
    cancelled: bool = False  # the fit was stopped by a CancelFitException


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` or ``"auto"``: CUDA when present, else the CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class Learner:
    """Trains a pretrained-body classifier on :class:`ImageData` with the fast.ai course recipe.

    Args:
        data: the images.
        arch: ``"efficientnet_lite0"`` (offline weights) or a torchvision name such as ``"resnet34"``.
        pretrained: load ImageNet weights into the body. Default: True.
        n_groups: layer groups (``fit`` takes one LR or ``n_groups`` LRs). Default: 3.
        opt: ``"sgd"`` (momentum 0.9, as in the course) or ``"adamw"``. Default: ``"sgd"``.
        wd: weight decay. Default: 1e-4.
        bn_freeze: keep every body BatchNorm in eval mode even when unfrozen. Default: False.
        seed: seeds the new head's weights and the random order of the loop. Default: 0.
    The body starts frozen (only the head trains), as in the course.
    """

    def __init__(self, data: ImageData, arch: str = "efficientnet_lite0", pretrained: bool = True,
                 n_groups: int = 3, opt: str = "sgd", momentum: float = 0.9, wd: float = 1e-4,
                 bn_freeze: bool = False, seed: int = 0, device: str | None = None,
                 callbacks: Sequence[Callback] = (), hidden: int = 512, ps: tuple[float, float] = (0.25, 0.5)):
        if opt not in OPTIMIZERS:
            raise ValueError(f"opt={opt!r}: expected one of {OPTIMIZERS}")
        self.config = {"arch": arch, "pretrained": pretrained, "n_groups": n_groups, "opt": opt,
                       "momentum": momentum, "wd": wd, "bn_freeze": bn_freeze, "seed": seed,
                       "hidden": hidden, "ps": list(ps)}
        self.data, self.device = data, resolve_device(device)
        torch.manual_seed(seed)
        self.model = build_model(arch, data.c, pretrained, hidden, tuple(ps)).to(self.device)
        self.layer_groups = self.model.layer_groups(n_groups)
        self.opt = self._make_optimizer()
        self.loss_fn = nn.CrossEntropyLoss()
        self.recorder = Recorder()
        self.callbacks: list[Callback] = []
        for cb in (self.recorder, *callbacks):
            self.add_callback(cb)
        self.state = FitState()
        self.n_frozen = 0
        self.freeze()

    # ------------------------------------------------------------------ setup
    def _make_optimizer(self) -> torch.optim.Optimizer:
        groups = [{"params": list(g.parameters()), "lr": 1e-3} for g in self.layer_groups]
        c = self.config
        if c["opt"] == "sgd":
            return torch.optim.SGD(groups, lr=1e-3, momentum=c["momentum"], weight_decay=c["wd"])
        return torch.optim.AdamW(groups, lr=1e-3, weight_decay=c["wd"])

    def add_callback(self, cb: Callback) -> None:
        cb.learner = self
        self.callbacks.append(cb)

    def remove_callback(self, cb: Callback) -> None:
        self.callbacks.remove(cb)

    @property
    def group_names(self) -> list[str]:
        n = len(self.layer_groups)
        return [f"body {i + 1}/{n - 1}" for i in range(n - 1)] + ["head"]

    # ------------------------------------------------------------------ freezing, size, augmentation
    def freeze_to(self, n: int) -> None:
        """Freeze the first ``n`` layer groups; train the others."""
        set_frozen(self.layer_groups, n)
        self.n_frozen = n

    def freeze(self) -> None:
        """Train the head only."""
        self.freeze_to(len(self.layer_groups) - 1)

    def unfreeze(self) -> None:
        """Train every layer group."""
        self.freeze_to(0)

    def set_size(self, size: int) -> None:
        """Train and predict at ``size`` pixels from now on (progressive resizing; weights are kept)."""
        if isinstance(size, bool) or not isinstance(size, int) or size < MIN_MODEL_SIZE:
            raise ValueError(f"size={size!r}: expected an integer >= {MIN_MODEL_SIZE} "
                             f"({self.config['arch']} downsamples by 32)")
        self.data.set_size(size)

    @property
    def augment(self) -> bool:
        """Augment training images (on for the later stages of the recipe)."""
        return self.data.augment

    @augment.setter
    def augment(self, on: bool) -> None:
        self.data.augment = bool(on)

    # ------------------------------------------------------------------ fitting
    def group_lrs(self, lrs: float | Sequence[float]) -> list[float]:
        """One LR per layer group from a float or a sequence of ``n_groups`` positive LRs."""
        n = len(self.layer_groups)
        if isinstance(lrs, (int, float)) and not isinstance(lrs, bool):
            values = [lrs] * n
        else:  # a list, tuple, numpy array or tensor
            values = lrs.tolist() if hasattr(lrs, "tolist") else list(lrs)
        if len(values) != n:
            raise ValueError(f"lrs={list(values)!r}: expected one LR or {n} LRs, one per layer group "
                             f"({', '.join(self.group_names)}); got {len(values)}")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"lrs={list(values)!r}: every learning rate must be a finite number > 0")
        return [float(v) for v in values]

    def fit(self, lrs: float | Sequence[float], n_cycle: int = 1, cycle_len: int = 1, cycle_mult: int = 1,
            callbacks: Sequence[Callback] = ()) -> None:
        """Train ``n_cycle`` SGDR cycles; cycle ``k`` lasts ``cycle_len * cycle_mult**k`` epochs.

        ``lrs``: one LR for every group, or ``[lr1, ..., lrn]`` for the ``n`` layer groups, earliest first.
        """
        group_lrs = self.group_lrs(lrs)
        n_epochs = sgdr_epochs(n_cycle, cycle_len, cycle_mult)
        dl = self.data.train_dl()
        for group, lr in zip(self.opt.param_groups, group_lrs):
            group["lr"] = lr
        scheduler = sgdr_scheduler(self.opt, len(dl), cycle_len, cycle_mult)
        self.state = FitState(n_epochs=n_epochs, iters_per_epoch=len(dl))
        extra = list(callbacks)
        for cb in extra:
            self.add_callback(cb)
        try:
            with self._events("fit", CancelFitException):
                for epoch in range(n_epochs):
                    self.state.epoch = epoch
                    with self._events("epoch", CancelEpochException):
                        self._train_epoch(dl, scheduler)
                        with self._events("validate", None):
                            self.state.valid_loss, self.state.accuracy = self.validate()
        finally:
            for cb in extra:
                self.remove_callback(cb)
            self.model.eval()

    def _train_epoch(self, dl, scheduler) -> None:
        with self._events("train", None):
            set_train_mode(self.model, self.layer_groups, self.n_frozen, self.config["bn_freeze"])
            for xb, yb in dl:
                with self._events("batch", CancelBatchException):
                    self._train_batch(xb, yb)
                self.state.iteration += 1
                scheduler.step()

    def _train_batch(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        s = self.state
        s.xb, s.yb = xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
        s.batch_lrs = [g["lr"] for g in self.opt.param_groups]
        s.pred = self.model(s.xb)
        s.loss = self.loss_fn(s.pred, s.yb)
        self._event("after_loss")
        self.opt.zero_grad(set_to_none=True)
        s.loss.backward()
        self.opt.step()

    def _event(self, name: str) -> None:
        run_event(self.callbacks, name)

    @contextmanager
    def _events(self, name: str, cancel: type[Exception] | None):
        """``before_<name>``, the body, ``after_<name>``; a ``cancel`` exception runs ``after_cancel_<name>``."""
        self._event(f"before_{name}")
        try:
            yield
        except Exception as e:
            if cancel is None or not isinstance(e, cancel):
                raise
            self.state.cancelled = self.state.cancelled or cancel is CancelFitException
            self._event(f"after_cancel_{name}")
        self._event(f"after_{name}")

    # ------------------------------------------------------------------ evaluation
    @torch.inference_mode()
    def get_preds(self, augment: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Class probabilities and targets for the validation set (augmented images if ``augment``)."""
        self.model.eval()
        probs, targets = [], []
        for xb, yb in self.data.valid_dl(augment=augment):
            probs.append(self.model(xb.to(self.device)).softmax(dim=1).cpu())
            targets.append(yb)
        return torch.cat(probs), torch.cat(targets)

    predict = get_preds

    def validate(self) -> tuple[float, float]:
        """``(loss, accuracy)`` on the validation set, without augmentation."""
        probs, targets = self.get_preds()
        return nll(probs, targets), accuracy(probs, targets)

    def tta(self, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
        """Test-time augmentation: the mean of the plain and ``n`` augmented predictions of the validation set."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n={n!r}: expected the number of augmented passes, an integer >= 1")
        probs, targets = self.get_preds()
        for _ in range(n):
            probs = probs + self.get_preds(augment=True)[0]
        return probs / (n + 1), targets

    # ------------------------------------------------------------------ checkpoints
    def save(self, path) -> None:
        """Write one checkpoint dict (atomically): model, optimizer, groups, history, config, classes."""
        checkpoint.save(self, path)

    def load(self, path) -> None:
        """Load a checkpoint written by :meth:`save` for the same architecture and classes."""
        checkpoint.load(self, path)


def accuracy(probs: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose highest probability is the target class."""
    return (probs.argmax(dim=1) == targets).float().mean().item()


def nll(probs: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean cross-entropy from probabilities."""
    picked = probs[torch.arange(len(targets)), targets].clamp_min(1e-12)
    return -picked.log().mean().item()
