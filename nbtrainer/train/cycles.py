"""What a fit does at its SGDR cycle ends: keep the best weights, stop when training over-fits, keep
snapshots for an ensemble.

SGDR's weights are at their best at the end of a cycle, where the LR has annealed to its lowest; so a
fit is judged there, on the validation set:

- ``keep_best``: the fit also validates its starting weights, copies the best weights seen (the start or
  a cycle end) to host memory, and puts them back when it ends, so a fit never leaves the learner worse
  on validation than it found it. "Best" is the higher validation accuracy, the lower validation loss
  breaking ties (a validation set of 200 images ties often).
- ``patience``: "train until over-fitting" (the course's last step): after ``patience`` cycle ends in a
  row whose validation loss is not below the lowest of the cycle ends before them, the fit stops at that
  epoch boundary. The loss, not the accuracy, says when: it is the smoother signal, and a rising loss at a
  steady accuracy (ever more confident mistakes) is how over-fitting starts. The start is not counted
  here: an unfrozen network often starts a fit below its frozen start, so a first cycle end below the
  start is no sign of over-fitting.
- ``stop_on="accuracy"``: the same rule on the validation accuracy (no new high) instead of the loss.
- ``deadline`` (``fit(budget=seconds)``): a time budget: at a cycle end, the fit stops when the next cycle,
  at the pace of the epochs so far, would end past it (a cycle cut short ends at a high LR, between two good
  points: a whole cycle or none).
- ``snapshots``: the weights of every cycle end (or of the last ``k``), on the host, for a snapshot ensemble (Huang et al. 2017,
  "Snapshot Ensembles: Train 1, get M for free"): ``learn.get_preds(snapshots=k)`` averages the last
  ``k`` of them.

Example::

    result = learn.fit([lr / 9, lr / 3, lr], n_cycle=4, cycle_mult=2, keep_best=True, patience=1)
    result.kept_text()          # "cycle 2 of 3 (stopped: over-fitting)"
    result.cycle_ends[1]        # CycleEnd(cycle=2, epoch=3, valid_loss=..., accuracy=...)
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from .. import distributed
from ..checks import is_int
from .callbacks import Callback, CancelValidException
from .learner_state import MODEL, WEIGHTS, copy_to


@dataclass(frozen=True)
class CycleEnd:
    """A validated point of a fit: ``cycle`` 0 is its start, ``cycle`` k the end of its k-th SGDR cycle
    (after ``epoch`` epochs of the fit)."""

    cycle: int
    epoch: int
    valid_loss: float
    accuracy: float

    def better_than(self, other: "CycleEnd | None") -> bool:
        """Higher accuracy, or the same accuracy and a lower loss (NaN is never better)."""
        if other is None:
            return not math.isnan(self.accuracy)
        if math.isnan(self.accuracy):
            return False
        if self.accuracy != other.accuracy:
            return self.accuracy > other.accuracy
        return self.valid_loss < other.valid_loss


@dataclass
class FitResult:
    """What one ``learn.fit`` did: its cycle ends, which weights it kept, whether it stopped early."""

    planned_cycles: int
    start: CycleEnd | None = None  # validated only with keep_best
    cycle_ends: list[CycleEnd] = field(default_factory=list)
    kept: CycleEnd | None = None  # None: the last weights (keep_best off, or nothing validated)
    stop_reason: str = ""  # "over-fitting", "time budget", "stopped" (the user's Stop), or "" (all cycles ran)

    def kept_text(self) -> str:
        """``"cycle 2 of 3"``, ``"the start: this fit did not improve on it"`` or ``"the last epoch"``,
        with why the fit ended early where it did."""
        done = len(self.cycle_ends)
        if self.kept is None:
            text = "the last epoch"
        elif self.kept.cycle == 0:
            text = "the start: this fit did not improve on it"
        else:
            text = f"cycle {self.kept.cycle} of {done}"
        if self.stop_reason == "over-fitting":
            text += f" (stopped after cycle {done} of {self.planned_cycles}: over-fitting)"
        elif self.stop_reason == "time budget":
            text += f" (stopped after cycle {done} of {self.planned_cycles}: the next would end past the time budget)"
        elif self.stop_reason == "stopped":
            text += (f" (Stop pressed in cycle {done + 1} of {self.planned_cycles})" if done < self.planned_cycles
                     else " (Stop pressed)")
        elif self.stop_reason:
            text += f" ({self.stop_reason})"
        return text


STOP_ON = ("loss", "accuracy")


class CycleEnds(Callback):
    """The cycle-end work of one fit (see the module's docstring); ``fit`` adds it when asked to.

    Args:
        ends: the fit's epoch count at each cycle end, e.g. ``[1, 3, 7]`` for 1 + 2 + 4 epochs.
        keep_best: validate the start, keep the best weights, restore them when the fit ends.
        patience: stop after this many cycle ends in a row whose validation loss is not below the lowest
            cycle end's before them (None: never).
        snapshots: keep cycle ends' weights in ``learner.snapshots``: True every one, an integer ``k`` the
            last ``k`` (an older one is dropped as a newer one comes: each is a copy of the whole model),
            False or 0 none.
        deadline: a ``time.monotonic()`` time: no cycle starts that would end after it (None: no budget).
        stop_on: what ``patience`` watches: ``"loss"`` (no new low of the validation loss) or ``"accuracy"``
            (no new high of the validation accuracy).
    """

    order = 10  # after the Recorder (-10) has written the epoch's row

    def __init__(self, ends: list[int], keep_best: bool = False, patience: int | None = None,
                 snapshots: bool | int = False, deadline: float | None = None, stop_on: str = "loss"):
        if patience is not None and not is_int(patience, 1):
            raise ValueError(f"patience={patience!r}: expected None or an integer >= 1 (cycle ends without "
                             f"improvement before the fit stops)")
        if not (isinstance(snapshots, bool) or is_int(snapshots, 0)):
            raise ValueError(f"snapshots={snapshots!r}: expected True (every cycle end), False, or how many of "
                             f"the last cycle ends to keep, an integer >= 0")
        if stop_on not in STOP_ON:
            raise ValueError(f"stop_on={stop_on!r}: expected one of {STOP_ON} (what patience watches)")
        self.ends, self.keep_best, self.patience, self.deadline = list(ends), keep_best, patience, deadline
        self.stop_on = stop_on
        self.snapshots = len(ends) if snapshots is True else int(snapshots)  # how many to keep
        self.result = FitResult(planned_cycles=len(ends))
        self._best: CycleEnd | None = None
        self._best_state: dict | None = None
        self._worse = 0

    def before_fit(self) -> None:
        learn = self.learner
        learn.snapshots = []  # an ensemble is of one fit's cycle ends: a later fit's weights moved on
        if self.keep_best:  # the start is validated as an epoch end is (the same events, the same cancel)
            learn._validate_part(CancelValidException)
            self.result.start = CycleEnd(0, 0, learn.state.valid_loss, learn.state.accuracy)
            if not math.isnan(self.result.start.accuracy):  # a cancelled validation measured nothing to keep
                self._keep(self.result.start)
        self._started = time.monotonic()  # the epochs' pace, from here (the start's validation is no epoch's)

    def _keep(self, point: CycleEnd) -> None:
        self._best = point
        self._best_state = copy_to(self.learner.state_dict(WEIGHTS))

    def after_epoch(self) -> None:
        state = self.learner.state
        epoch = state.epoch + 1
        if epoch not in self.ends:
            return
        point = CycleEnd(self.ends.index(epoch) + 1, epoch, state.valid_loss, state.accuracy)
        new = (point.valid_loss < min((p.valid_loss for p in self.result.cycle_ends), default=math.inf)
               if self.stop_on == "loss" else
               point.accuracy > max((p.accuracy for p in self.result.cycle_ends), default=-math.inf))
        self.result.cycle_ends.append(point)
        self.learner.recorder.epochs[-1]["cycle_end"] = point.cycle
        if self.snapshots:
            kept = self.learner.snapshots[len(self.learner.snapshots) + 1 - self.snapshots:]
            weights = copy_to(self.learner.state_dict(MODEL))["model"]
            self.learner.snapshots = [*kept, weights]  # a new list (see learner_state.take)
        if self.keep_best and point.better_than(self._best):
            self._keep(point)
        self._worse = 0 if new else self._worse + 1
        if self.patience is not None and self._worse >= self.patience and point.cycle < len(self.ends):
            self.result.stop_reason = "over-fitting"
            state.stop = True  # the loop ends the fit after this epoch
        elif self._next_cycle_too_long(point):
            self.result.stop_reason = "time budget"
            state.stop = True

    def _next_cycle_too_long(self, point: CycleEnd) -> bool:
        """Whether the cycle after ``point``, at the pace of this fit's epochs so far (validations included),
        would end past the deadline."""
        if self.deadline is None or point.cycle >= len(self.ends):
            return False
        now = time.monotonic()
        next_epochs = self.ends[point.cycle] - self.ends[point.cycle - 1]
        too_long = now + (now - self._started) / point.epoch * next_epochs > self.deadline
        # every process stops together (each has its own clock): one that would pass the budget stops them all
        # (on the learner's device: NCCL reduces CUDA tensors only)
        return bool(distributed.mean(torch.tensor(float(too_long), device=self.learner.device)).item() > 0)

    def after_cancel_fit(self) -> None:
        self.result.stop_reason = "stopped"

    def after_fit(self) -> None:
        learn = self.learner
        if not self.keep_best or self._best is None:
            return
        best = self.result.kept = self._best
        _mark_kept(learn.recorder.epochs, best)
        in_place = bool(self.result.cycle_ends) and best == self.result.cycle_ends[-1] and not learn.state.cancelled
        if in_place:  # the weights the fit ended with are the best: nothing to put back
            return
        learn.load_state_dict(self._best_state)
        learn.state.valid_loss, learn.state.accuracy = best.valid_loss, best.accuracy


def _mark_kept(epochs: list[dict], kept: CycleEnd) -> None:
    """Say on the recorder's rows which weights the fit kept (none for the start: it has no row)."""
    if kept.cycle:
        for row in reversed(epochs):
            if row.get("cycle_end") == kept.cycle:
                row["kept"] = True
                return
