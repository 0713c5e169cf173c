"""Events of the training loop, the ``Callback`` base class, cancel exceptions, Stop, the recorder.

The loop announces each event in :data:`EVENTS` by calling the method of that name on every callback,
in ``order`` (lower first). A callback reaches the learner explicitly through ``self.learner`` and
may raise a cancel exception from an event inside a part of the loop to skip the rest of that part
(fastai's semantics): :class:`CancelBatchException` (a batch), :class:`CancelTrainException` (an epoch's
training), :class:`CancelValidException` (an epoch's validation), :class:`CancelEpochException` (an
epoch) or :class:`CancelFitException` (the fit); ``after_cancel_<part>`` then runs, then ``after_<part>``.

One family of events for every loop: an LR sweep is a fit (``state.sweep_iters``), and every inference pass
(validation, predictions, TTA, the precompute pass) is a validation: ``before_validate``, then
``before_batch``/``after_batch`` for each of its batches with ``learner.training`` False (a callback that
wants training batches only checks it, as fastai's do), then ``after_validate``; ``learner.inference`` names
the pass ("validate" for a fit's own validation) and counts its batches. A :class:`CancelBatchException` skips
an inference batch as it skips a training one (its predictions are left out; precompute then refuses to keep
a cache without them). A
pass outside a fit cancelled from any of its events (:class:`CancelValidException`, or
:class:`CancelFitException` from the :class:`Stopper`) runs ``after_cancel_validate`` and ``after_validate``,
then raises the exception to its caller: no partial predictions are returned.

Example::

    class PrintLoss(Callback):
        def after_epoch(self):
            print(self.learner.recorder.epochs[-1])

    learn.fit(1e-2, callbacks=[PrintLoss()])
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

EVENTS = (
    "before_fit", "before_epoch", "before_train", "before_batch", "after_loss", "after_step", "after_batch",
    "after_train", "before_validate", "after_validate", "after_epoch", "after_fit",
    "after_cancel_batch", "after_cancel_train", "after_cancel_validate", "after_cancel_epoch", "after_cancel_fit",
)


@dataclass
class FitState:
    """What the loop is doing now; callbacks read it through ``learner.state``."""

    n_epochs: int = 0
    iters_per_epoch: int = 0
    epoch: int = 0
    iteration: int = 0
    cycle_starts: list[int] = field(default_factory=list)  # epoch of each SGDR restart (0 first)
    batch_lrs: list[float] = field(default_factory=list)
    xb: torch.Tensor | None = None
    yb: torch.Tensor | None = None
    pred: torch.Tensor | None = None
    loss: torch.Tensor | float = math.nan
    smooth_loss: float = math.nan  # lr_find's smoothed loss
    sweep_iters: int = 0  # an LR sweep's iterations (lr_find.LRFinder); 0 in a fit
    valid_loss: float = math.nan
    accuracy: float = math.nan
    cancelled: bool = False  # the fit was stopped by a CancelFitException
    stop: bool = False  # a callback ends the fit, as planned, after this epoch (until over-fitting)

    _loss_seen: tuple = field(default=(None, math.nan), repr=False)  # (loss tensor, its float) of this batch

    @property
    def loss_value(self) -> float:
        """The last batch's loss as a float, converted once per batch however many callbacks read it (one
        device sync on a GPU; detached first: no autograd warning)."""
        loss = self.loss
        if not isinstance(loss, torch.Tensor):
            return float(loss)
        if self._loss_seen[0] is not loss:  # a new batch's loss (a new tensor)
            self._loss_seen = (loss, float(loss.detach()))
        return self._loss_seen[1]


@dataclass
class InferencePass:
    """An inference pass under way (``learner.inference``): its name ("validate" inside a fit, "predict", "tta",
    "precompute"), batches in all, batches done."""

    name: str
    total: int
    done: int = 0


class CancelBatchException(Exception):
    """Skip the rest of this batch (no backward/step if raised before them)."""


class CancelTrainException(Exception):
    """Skip the rest of this epoch's training (its validation still runs)."""


class CancelValidException(Exception):
    """Skip the rest of this epoch's validation (its loss and accuracy are then NaN)."""


class CancelEpochException(Exception):
    """Skip the rest of this epoch."""


class CancelFitException(Exception):
    """Stop the fit; the learner stays consistent and can fit again."""


class Callback:
    """Subclass and define methods named after :data:`EVENTS`; ``order`` sorts callbacks (lower first)."""

    order = 0
    learner = None

    def __call__(self, event: str) -> None:
        method = getattr(self, event, None)
        if method is not None:
            method()


def run_event(callbacks: list[Callback], event: str) -> None:
    """Call ``event`` on each callback of ``callbacks`` (sorted by ``order``: :meth:`EventLoop.add_callback`
    keeps them so, once, not at every event). The one place events are dispatched."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; expected one of {EVENTS}")
    for cb in callbacks:
        cb(event)


class EventLoop:
    """The event side of :class:`~nbtrainer.Learner` (fastai's event loop, without its magic): the callback
    list, :meth:`run_event`, and :meth:`_with_events` around a part of the loop. Needs ``self.callbacks``
    and ``self.state``. ``training`` is True while a batch is a training batch (False in inference passes).

    Example::

        learn._with_events(do_epochs, "fit", CancelFitException)   # before_fit, do_epochs(), after_fit
    """

    callbacks: list[Callback]
    training: bool = False

    def add_callback(self, cb: Callback) -> None:
        cb.learner = self
        self.callbacks.append(cb)
        self.callbacks.sort(key=lambda c: c.order)  # stable: equal orders keep the order they were added in

    def remove_callback(self, cb: Callback) -> None:
        self.callbacks.remove(cb)

    @contextmanager
    def added_callbacks(self, callbacks: Sequence[Callback]):
        """Add ``callbacks`` for the ``with`` body only (``fit(callbacks=...)``, ``lr_find(callbacks=...)``)."""
        extra = list(callbacks)
        for cb in extra:
            self.add_callback(cb)
        try:
            yield
        finally:
            for cb in extra:
                self.remove_callback(cb)

    def run_event(self, name: str) -> None:
        """Announce ``name`` (one of :data:`EVENTS`) to every callback."""
        run_event(self.callbacks, name)

    def _with_events(self, f: Callable[[], None], name: str,
                     cancel: type[Exception] | tuple[type[Exception], ...] | None) -> Exception | None:
        """``before_<name>``, ``f()``, ``after_<name>`` (fastai's ``_with_events``). A ``cancel`` exception
        raised by ``before_<name>`` or inside ``f`` (its inner events included) skips the rest of the part
        and runs ``after_cancel_<name>``; ``after_<name>`` then runs too, and the cancel exception is returned
        (None when nothing cancelled); any other exception propagates. A function, not a ``with`` block,
        because a context manager cannot skip its body when ``before_<name>`` cancels."""
        caught = None
        try:
            self.run_event(f"before_{name}")
            f()
        except Exception as e:
            if cancel is None or not isinstance(e, cancel):
                raise
            caught = e
            if name == "fit":
                self.state.cancelled = True
            self.run_event(f"after_cancel_{name}")
        self.run_event(f"after_{name}")
        return caught


class Stopper(Callback):
    """Stops a fit or an LR sweep at the next batch boundary once :meth:`request` is called (from any thread).

    It raises :class:`CancelFitException` before the next batch (``before_batch``) of any loop: a fit, an LR
    sweep or an inference pass (validation, TTA, the precompute pass); the fit then ends as a cancelled fit
    (``state.cancelled``), an LR sweep restores the learner, a pass outside a fit raises it to its caller and
    a precompute pass keeps no cache. The request stays set until :meth:`clear`.

    Example::

        stopper = Stopper()
        learn.add_callback(stopper)
        threading.Thread(target=learn.fit, args=(1e-2, 5)).start()
        stopper.request()          # e.g. the widget's Stop button
    """

    order = -20

    def __init__(self) -> None:
        self._event = threading.Event()

    def request(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def _check(self) -> None:
        if self._event.is_set():
            raise CancelFitException("stop requested")

    before_batch = _check


class Recorder(Callback):
    """Per iteration: LR of every group and the training loss. Per epoch: losses, accuracy, time.

    ``iterations`` rows are ``{"iteration", "epoch", "lrs", "loss"}``; ``epochs`` rows are
    ``{"epoch", "stage", "train_loss", "valid_loss", "accuracy", "seconds", "size"}``.
    """

    order = -10

    def __init__(self) -> None:
        self.iterations: list[dict] = []
        self.epochs: list[dict] = []
        self.stage = ""
        self._epoch_losses: list[float] = []
        self._epoch_start = 0.0

    def before_epoch(self) -> None:
        self._epoch_losses, self._epoch_start = [], time.perf_counter()

    def after_batch(self) -> None:
        if not self.learner.training:  # a batch of an inference pass
            return
        state = self.learner.state
        loss = state.loss_value
        self._epoch_losses.append(loss)
        self.iterations.append({"iteration": len(self.iterations), "epoch": len(self.epochs),
                                "lrs": list(state.batch_lrs), "loss": loss})

    def after_epoch(self) -> None:
        state = self.learner.state
        losses = self._epoch_losses  # none when the epoch's training was cancelled
        train_loss = sum(losses) / len(losses) if losses else math.nan
        self.epochs.append({"epoch": len(self.epochs), "stage": self.stage, "train_loss": train_loss,
                            "valid_loss": state.valid_loss, "accuracy": state.accuracy,
                            "seconds": time.perf_counter() - self._epoch_start,
                            "size": self.learner.data.size})

    def state_dict(self) -> dict:
        return {"iterations": [dict(r) for r in self.iterations], "epochs": [dict(r) for r in self.epochs],
                "stage": self.stage}

    def load_state_dict(self, state: dict) -> None:
        self.iterations = [dict(r) for r in state.get("iterations", [])]
        self.epochs = [dict(r) for r in state.get("epochs", [])]
        self.stage = state.get("stage", self.stage)

    # fastai's recorder plots (matplotlib, shown under the cell in a notebook); each returns its Axes
    def plot_loss(self, ax=None):
        """Training loss per iteration and validation loss per epoch."""
        from ..present.plots import axes, draw_losses
        draw_losses(ax := axes(ax, (7, 4)), self)
        return ax

    def plot_metrics(self, ax=None):
        """Validation accuracy per epoch, stages marked."""
        from ..present.plots import axes, draw_accuracy
        draw_accuracy(ax := axes(ax, (7, 4)), self)
        return ax

    def plot_lr(self, ax=None):
        """Each layer group's LR per iteration (SGDR cycles, differential LRs)."""
        from ..present.plots import axes, draw_lrs
        draw_lrs(ax := axes(ax, (7, 3.5)), self, self.learner.group_names)
        return ax
