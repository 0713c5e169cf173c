"""The LR-finder curve as a bqplot figure: loss against LR (log axis), drawn live, the suggestion marked,
a click picks the LR.

The click: an empty bqplot ``Scatter`` with ``interactions={"click": "add"}`` covers the plot area; a
click anywhere on it makes the browser add a point at the clicked (LR, loss) in data coordinates
(inverted through the log scale by bqplot) and sync the scatter's ``x`` to the kernel. We read the
new point's LR, report it through ``on_pick`` and redraw the marker, a vertical rule and a label at
it. (bqplot's ``on_background_click`` carries no coordinates, hence the scatter.)

Usable alone for a plain :class:`~nbtrainer.Learner`::

    plot = LRPlot()
    display(plot)
    result = plot.find(learn)          # the sweep, drawn live; then click the curve
    learn.fit(plot.picked_lr or result.suggestion)
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from bqplot import Axis, Figure, LinearScale, Lines, LogScale, Scatter
from ipywidgets import HTML, Layout, VBox
from traitlets import Float

from ..train.lr_find import END_LR, START_LR
from ..train.live import LiveFeed
from .render import fit_log_axis, hold_all, log_domain


def _fmt(lr: float | None) -> str:
    return "-" if lr is None else f"{lr:.3g}"


class LRPlot(VBox):
    """Raw and smoothed loss vs LR; ``picked_lr`` is set by a click (and ``on_pick(lr)`` called)."""

    picked_lr = Float(None, allow_none=True)

    def __init__(self, on_pick: Callable[[float], None] | None = None, **kwargs):
        self.on_pick = on_pick
        # the LR axis starts with lr_find's default range and its decades: a log scale without a domain puts
        # its first ticks at NaN in the browser (console errors) until a curve arrives
        x, y, unit = LogScale(min=START_LR, max=END_LR), LinearScale(), LinearScale(min=0, max=1)
        self.raw = Lines(x=[], y=[], scales={"x": x, "y": y}, colors=["#c7c7c7"], stroke_width=1)
        self.smoothed = Lines(x=[], y=[], scales={"x": x, "y": y}, colors=["#1f77b4"], stroke_width=2.5)
        self.suggestion = Scatter(x=[], y=[], scales={"x": x, "y": y}, colors=["#ff7f0e"], marker="triangle-down",
                                  default_size=120, tooltip=None)
        self.rule = Lines(x=[], y=[0, 1], scales={"x": x, "y": unit}, colors=["#d62728"], line_style="dashed")
        # the LR the next fit uses (a click, the suggestion, or the suggestion bounded near the head's LR)
        self.used = Scatter(x=[], y=[], scales={"x": x, "y": y}, colors=["#2ca02c"], marker="diamond",
                            default_size=90, tooltip=None)
        self.picker = Scatter(x=[], y=[], scales={"x": x, "y": y}, colors=["#d62728"], default_size=80,
                              interactions={"click": "add"})
        self._x_scale, self._x_axis = x, Axis(scale=x, label="learning rate (last layer group)", tick_format=".0e",
                                              tick_values=log_domain([START_LR, END_LR])[2])
        self.figure = Figure(marks=[self.raw, self.smoothed, self.rule, self.suggestion, self.used, self.picker],
                             axes=[self._x_axis, Axis(scale=y, orientation="vertical", label="loss")],
                             title="LR finder: click to choose the learning rate",
                             layout=Layout(width="100%", height="290px"),
                             fig_margin={"top": 40, "bottom": 45, "left": 55, "right": 15})
        self.figure.add_class("nbt-lr-plot")
        self.label = HTML("Run the LR finder, then click the curve to choose the LR.")
        self.label.add_class("nbt-lr-label")
        # (lrs, losses, smoothed), replaced whole: a click (kernel thread) reads it while a sweep (the step's
        # thread) extends it, and must never see arrays of different lengths
        self._curve: tuple[list[float], list[float], list[float]] = ([], [], [])
        self._suggested: float | None = None
        self._used: float | None = None
        self._no_fall = False  # the sweep reached the end of its range without the loss rising
        self._diverged = False  # the sweep ended on its last point's blow-up (that point is kept off the scale)
        self.picker.observe(self._on_click, names="x")
        super().__init__([self.figure, self.label], **kwargs)
        self.add_class("nbt-lr-panel")

    # ------------------------------------------------------------------ engine data in
    def update(self, update: dict) -> None:
        """Draw a :class:`~nbtrainer.train.live.LiveFeed` update of an LR sweep (the first one clears the plot)."""
        lrs, losses, smooth = ([], [], []) if update.get("start") is not None else self._curve
        if update.get("start") is not None:
            self._suggested, self._no_fall, self._diverged = None, False, False
        b = update["batches"]
        self._curve = (lrs + b["lr"], losses + b["loss"], smooth + b["smooth"])
        self._draw()

    def show_result(self, result: dict) -> None:
        """Draw a finished sweep (``LRFinderResult.to_dict()``) with its suggestion."""
        self._curve = (list(result["lrs"]), list(result["losses"]), list(result["smoothed"]))
        self._suggested = result.get("suggestion")
        self._diverged = str(result.get("stop_reason", "")).startswith("smoothed loss above")
        # the sweep ran to its end and the loss there is still near its lowest: no rise anywhere in the range
        finite = [v for v in result["smoothed"] if math.isfinite(v)]
        self._no_fall = (str(result.get("stop_reason", "")).startswith("reached end_lr") and len(finite) > 1
                         and finite[-1] <= 1.1 * min(finite))
        self._draw()

    def show_used(self, lr: float | None) -> None:
        """Mark the LR the next fit uses (green diamond; said in the label)."""
        self._used = lr
        self._draw()

    def _draw(self) -> None:
        lrs, losses, smooth = self._curve
        finite = [v for v in smooth if math.isfinite(v)]
        # a sweep that ended on a blow-up: the scale ends at the highest point before it; nothing else is cut
        # (a rise the finder did not call divergence stays a rise, not a flat line; live, nothing is cut)
        top = max(finite[:-1] if self._diverged and len(finite) > 1 else finite) if finite else None
        with hold_all(self.raw, self.smoothed, self.suggestion, self.used, self._x_scale, self._x_axis):
            fit_log_axis(self._x_scale, self._x_axis, lrs)
            self.raw.x, self.raw.y = np.array(lrs), np.clip(losses, None, None if top is None else 1.25 * top)
            self.smoothed.x, self.smoothed.y = np.array(lrs), np.clip(smooth, None, top)
            s = self._suggested
            self.suggestion.x, self.suggestion.y = ([s], [self._loss_at(s)]) if s else ([], [])
            u = self._used if lrs else None
            self.used.x, self.used.y = ([u], [self._loss_at(u)]) if u else ([], [])
        self._show_label()

    def _loss_at(self, lr: float) -> float:
        """Where a marker at ``lr`` sits on the smoothed curve (drawing only)."""
        lrs, _, smooth = self._curve
        if not lrs:
            return 0.0
        return float(np.interp(np.log(lr), np.log(lrs), smooth))

    # ------------------------------------------------------------------ the click
    def _on_click(self, change) -> None:
        xs = list(change["new"])
        if len(xs) <= len(change["old"] if change["old"] is not None else []):
            return  # our own redraw of the marker, not a click
        lr = float(xs[-1])
        if not (math.isfinite(lr) and lr > 0):
            return
        if self.on_pick is None:
            self.show_pick(lr)
        else:
            self.on_pick(lr)  # the app shows the LR the engine took (show_pick), or keeps the old one
            self.show_pick(self.picked_lr)  # drops the clicked point if the engine refused it

    def show_pick(self, lr: float | None) -> None:
        """Mark the chosen LR (vertical rule, marker, label); None clears it."""
        self.picked_lr = lr
        with hold_all(self.rule, self.picker):
            self.rule.x = [lr, lr] if lr else []
            self.picker.x, self.picker.y = ([lr], [self._loss_at(lr)]) if lr else ([], [])
        self._show_label()

    def _show_label(self) -> None:
        pick, used, suggested = self.picked_lr, self._used, self._suggested
        text = (f"<b>Chosen LR: {_fmt(pick)}</b> (clicked)" if pick else
                "Click the curve to choose the LR") + f" &nbsp;|&nbsp; suggestion (orange): {_fmt(suggested)}"
        if used is not None and self._curve[0]:
            bounded = not pick and suggested and f"{used:.2g}" != f"{suggested:.2g}"
            text += (f" &nbsp;|&nbsp; <b>the next fit uses (green): {_fmt(used)}</b>"
                     + (" (the suggestion kept near the head's LR)" if bounded else ""))
        if self._no_fall:
            text += ("<br><small>The loss never rose in this range (an easy set for this model): there is no steep "
                     "fall to click, any LR on the curve trains; the suggestion is on the safe side.</small>")
        self.label.value = text

    # ------------------------------------------------------------------ alone, for a plain Learner
    def find(self, learn, rate: float = 4.0, **lr_find_kwargs):
        """Run ``learn.lr_find(**lr_find_kwargs)`` drawing the curve live; returns its result."""
        feed = LiveFeed(self.update, rate=rate)
        result = learn.lr_find(callbacks=[feed], **lr_find_kwargs)
        self.show_result(result.to_dict())
        return result
