"""A throttled feed of the training loop for live views (the notebook widget, a web page, a logger).

:class:`LiveFeed` is a callback: it collects each batch, epoch and LR-sweep step into a buffer (a few
list appends, nothing else inside the tight loop) and hands the buffer to ``on_update`` at most
``rate`` times a second, plus once when the fit or sweep ends. Views render these updates; they never
poll the loop and never run per batch. The smoothed losses are computed here, so every view shows
the same numbers.

An update is a :class:`LiveUpdate` (a typed dict)::

    {"kind": "fit" | "lr_find",
     "start": {...} or None,            # first update of a fit/sweep: its shape (see below)
     "batches": {"iteration": [...], "loss": [...], "smooth": [...], "lrs": [[...], ...]},
     "epochs": [{"iteration", "epoch", "train_loss", "valid_loss", "accuracy"}, ...],
     "done": bool}                      # the last update of this fit/sweep

A fit's ``start`` is ``{"iteration0", "iters_per_epoch", "n_epochs", "restarts"}`` (``restarts`` are the
global iterations where an SGDR cycle begins); a sweep's ``start`` is ``{"num_iter", "ratios"}`` and its
``batches`` carry ``lr`` (the last group's LR, the x axis) instead of ``iteration``.

Example::

    feed = LiveFeed(lambda update: print(len(update["batches"]["loss"]), "new points"), rate=2)
    learn.fit(1e-2, n_cycle=3, callbacks=[feed])
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypedDict

from .callbacks import Callback
from ..present.smoothing import SmoothedLoss


class LiveUpdate(TypedDict, total=False):
    """One update of :class:`LiveFeed` (see the module's docstring); the widget's model adds ``seq``."""

    kind: str            # "fit", "lr_find" or "history" (history_update: the whole recorder)
    start: dict | None   # the first update of a fit or sweep: its shape
    batches: dict        # per batch: iteration or lr, loss, smooth, lrs
    epochs: list[dict]   # per epoch: iteration, epoch, train_loss, valid_loss, accuracy, ...
    done: bool           # the last update of this fit or sweep
    seq: int


class Throttle:
    """``ready()`` is True at most once every ``1 / rate`` seconds (the first call is always ready).

    Example::

        throttle = Throttle(rate=4)
        if throttle.ready(): redraw()
    """

    def __init__(self, rate: float = 4.0, clock: Callable[[], float] = time.monotonic):
        if not rate > 0:
            raise ValueError(f"rate={rate!r}: expected updates per second > 0")
        self.interval, self.clock, self._last = 1.0 / rate, clock, -math.inf

    def ready(self) -> bool:
        now = self.clock()
        if now - self._last < self.interval:
            return False
        self._last = now
        return True

    def mark(self) -> None:
        """Count an update made outside :meth:`ready` (a forced one) against the interval."""
        self._last = self.clock()


class LiveFeed(Callback):
    """Buffers loop events and calls ``on_update(update)`` at most ``rate`` times a second (see module doc).

    Args:
        on_update: receives each update dict; runs in the training thread, so it should be quick.
        rate: updates per second at most, besides the last one of each fit/sweep. Default: 4.
        beta: smoothing of the training loss (per fit). Default: 0.98.
    """

    order = 20  # after the recorder, so the recorder's iteration count includes this batch

    def __init__(self, on_update: Callable[[LiveUpdate], None], rate: float = 4.0, beta: float = 0.98):
        self.on_update, self.beta, self.throttle = on_update, beta, Throttle(rate)
        self.updates = 0
        self._reset("fit", None)

    def _reset(self, kind: str, start: dict | None) -> None:
        self._kind, self._start = kind, start
        self._batches: dict[str, list] = {"loss": [], "smooth": [], "lrs": [], "iteration" if kind == "fit" else "lr": []}
        self._epochs: list[dict] = []

    def _emit(self, done: bool) -> None:
        update: LiveUpdate = {"kind": self._kind, "start": self._start, "batches": self._batches,
                              "epochs": self._epochs, "done": done}
        self._reset(self._kind, None)
        self.updates += 1
        self.on_update(update)

    def _maybe_emit(self) -> None:
        if self.throttle.ready():
            self._emit(done=False)

    def _finish(self) -> None:
        self.throttle.mark()
        self._emit(done=True)

    # ------------------------------------------------------------------ a fit or an LR sweep
    def before_fit(self) -> None:
        state = self.learner.state
        if state.sweep_iters:
            lrs = [g["lr"] for g in self.learner.opt.param_groups]
            self._reset("lr_find", {"num_iter": state.sweep_iters, "ratios": [lr / lrs[-1] for lr in lrs]})
            return
        first = len(self.learner.recorder.iterations)
        ipe = state.iters_per_epoch
        self._reset("fit", {"iteration0": first, "iters_per_epoch": ipe, "n_epochs": state.n_epochs,
                            "restarts": [first + e * ipe for e in state.cycle_starts]})
        self._ema = SmoothedLoss(self.beta)

    def after_batch(self) -> None:
        if not self.learner.training:  # a batch of an inference pass
            return
        if self._kind == "lr_find":
            self._sweep_point()
            return
        row = self.learner.recorder.iterations[-1]
        b = self._batches
        b["iteration"].append(row["iteration"])
        b["loss"].append(row["loss"])
        b["smooth"].append(self._ema.update(row["loss"]))
        b["lrs"].append(row["lrs"])
        self._maybe_emit()

    def after_epoch(self) -> None:
        if self._kind == "lr_find":
            return
        row = dict(self.learner.recorder.epochs[-1])
        row["iteration"] = len(self.learner.recorder.iterations)
        self._epochs.append(row)
        self._maybe_emit()

    def after_fit(self) -> None:
        self._finish()

    def _sweep_point(self) -> None:
        state, b = self.learner.state, self._batches
        b["lr"].append(state.batch_lrs[-1])
        b["loss"].append(state.loss_value)
        b["smooth"].append(state.smooth_loss)
        b["lrs"].append(list(state.batch_lrs))
        self._maybe_emit()
