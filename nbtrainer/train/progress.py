"""Progress of every long stage (a fit, an LR sweep, the precompute pass, TTA, predictions): batches done out
of the total, elapsed time and the time left, reported a few times a second and once at the end.

:class:`Progress` turns the loop's events into :class:`ProgressInfo` and hands them to ``on_progress``
(throttled); :class:`TqdmProgress` draws them as tqdm bars in a terminal, the widget as an ipywidgets bar.
Validation inside a fit is part of the fit's progress, not a stage of its own.

Example::

    learn.fit(1e-2, n_cycle=3, callbacks=[Progress(lambda p: print(p.stage, p.done, p.total, p.eta))])
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..present.text import shown_number
from .callbacks import Callback
from .live import Throttle


@dataclass
class ProgressInfo:
    """One report: ``stage`` ("fit", "lr_find", "precompute", "tta", "predict"), batches ``done`` of
    ``total``, seconds ``elapsed`` and ``eta`` (None until a batch is done), the epoch (fits) and whether
    the stage has ``finished`` (stopped early when ``done < total``)."""

    stage: str
    done: int
    total: int
    elapsed: float
    eta: float | None
    epoch: int | None = None
    n_epochs: int | None = None
    finished: bool = False

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


class Progress(Callback):
    """Reports :class:`ProgressInfo` to ``on_progress`` at most ``rate`` times a second, plus each stage's
    start and end."""

    # before CycleEnds (10), whose before_fit validates a keep-best fit's start: that validation is then part
    # of the fit's stage, not an extra "validate" stage shown before it
    order = 5

    def __init__(self, on_progress: Callable[[ProgressInfo], None] | None = None, rate: float = 4.0):
        self.on_progress, self.throttle = on_progress, Throttle(rate)
        self.stage: str | None = None  # a fit's stage lasts until after_fit: inference passes inside it are not stages

    def report(self, info: ProgressInfo) -> None:
        """Called with every report; subclasses draw it."""
        if self.on_progress is not None:
            self.on_progress(info)

    def _start(self, stage: str, total: int, n_epochs: int | None = None) -> None:
        self.stage, self.total, self.done, self.start = stage, total, 0, time.perf_counter()
        self.n_epochs = n_epochs
        self.throttle.mark()
        self.report(self._info())

    def _tick(self) -> None:
        self.done += 1
        if self.throttle.ready():
            self.report(self._info())

    def _finish(self) -> None:
        if self.stage is not None:
            self.report(self._info(finished=True))
        self.stage = None

    def _info(self, finished: bool = False) -> ProgressInfo:
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        epoch = None
        if self.stage == "fit":
            ipe = self.learner.state.iters_per_epoch
            epoch = min(self.done // ipe + 1, self.n_epochs) if ipe else None
        return ProgressInfo(self.stage, self.done, self.total, elapsed, eta, epoch, self.n_epochs, finished)

    # a fit or an LR sweep (the same loop; ``state.sweep_iters`` tells a sweep)
    def before_fit(self) -> None:
        state = self.learner.state
        if state.sweep_iters:
            self._start("lr_find", state.sweep_iters)
        else:
            self._start("fit", state.n_epochs * state.iters_per_epoch, state.n_epochs)

    def after_batch(self) -> None:
        if self.learner.training == (self.stage in ("fit", "lr_find")) and self.stage is not None:
            self._tick()  # a training batch of a fit or sweep, or a batch of an inference stage

    def after_fit(self) -> None:
        self._finish()

    # an inference pass outside a fit (announced as a validation; the one inside a fit is part of the fit)
    def before_validate(self) -> None:
        if self.stage is None:
            self._start(self.learner.inference.name, self.learner.inference.total)

    def after_validate(self) -> None:
        if self.stage not in (None, "fit", "lr_find"):
            self._finish()


class TqdmProgress(Progress):
    """A tqdm bar per stage (fit, LR sweep, precompute, TTA) with its counts, elapsed time and ETA; a fit's
    bar also shows the epoch, the last loss and the validation accuracy."""

    def __init__(self, leave: bool = True):
        super().__init__(rate=4.0)
        self.leave, self.bar = leave, None

    def report(self, info: ProgressInfo) -> None:
        from tqdm.auto import tqdm

        if self.bar is None:
            desc = (self.learner.recorder.stage or "fit") if info.stage == "fit" else info.stage
            self.bar = tqdm(total=info.total, desc=desc, leave=self.leave, unit="batch", dynamic_ncols=True,
                            mininterval=0.25)
        self.bar.update(info.done - self.bar.n)
        if info.stage == "fit" and info.epoch is not None:
            state = self.learner.state
            self.bar.set_postfix(epoch=f"{info.epoch}/{info.n_epochs}", loss=shown_number(state.loss_value),
                                 acc=shown_number(state.accuracy), refresh=False)
        if info.finished:
            self.bar.close()
            self.bar = None


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook 7, Voila), where tqdm draws notebook bars."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class NotebookProgress(TqdmProgress):
    """The bar a :class:`~nbtrainer.Learner` shows by itself in a notebook (``Learner(progress=None)``, the
    default): tqdm's notebook bar, for work run on the kernel's main thread while nothing else reports
    progress. The widget runs its steps on a worker thread with a Progress of its own, so its runs draw no
    second bar (and no bar lands in whichever cell a background thread would print to)."""

    def _start(self, stage: str, total: int, n_epochs: int | None = None) -> None:
        others = any(isinstance(cb, Progress) and cb is not self for cb in self.learner.callbacks)
        self.quiet = others or threading.current_thread() is not threading.main_thread()
        super()._start(stage, total, n_epochs)

    def report(self, info: ProgressInfo) -> None:
        if not self.quiet:
            super().report(info)
