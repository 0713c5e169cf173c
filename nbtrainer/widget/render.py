"""Small drawing helpers shared by the views: batched syncs, log axes that bqplot can draw, the figure of
each layer group's LR per iteration (the ratio sliders' preview and the training plot both show one)."""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack, contextmanager

import html

import numpy as np
from bqplot import Axis, Figure, LinearScale, Lines, LogScale
from ipywidgets import HTML, Layout

COLORS = ["#2ca02c", "#9467bd", "#1f77b4", "#8c564b", "#e377c2", "#7f7f7f"]  # one per layer group


@contextmanager
def hold_all(*widgets):
    """``hold_sync`` on several widgets at once: each sends one message with all its changes at the end."""
    with ExitStack() as stack:
        for widget in widgets:
            stack.enter_context(widget.hold_sync())
        yield


def legend_html(items: Sequence[tuple[str, str, str]]) -> str:
    """A legend under a figure, as HTML: ``(colour, symbol, label)`` per mark. Why not bqplot's legend: it
    is drawn inside the plot area and covers the marks (the accuracy markers, the LR lines)."""
    return "<small>" + " &nbsp; ".join(f"<span style='color:{c}'>{html.escape(sym)}</span> {html.escape(label)}"
                                       for c, sym, label in items) + "</small>"


def log_domain(values) -> tuple[float, float, list[float]] | None:
    """A log axis's domain around the positive ``values`` (a little margin) and one tick per decade in it;
    None when there is no positive value. bqplot's own log ticks crowd when the domain spans under a decade."""
    import math

    positive = [float(v) for v in values if v > 0 and math.isfinite(v)]
    if not positive:
        return None
    lo, hi = min(positive) / 1.2, max(positive) * 1.2
    ticks = [10.0 ** k for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)]
    inside = [t for t in ticks if lo <= t <= hi]
    if len(inside) < 2:  # under a decade: the ends and the middle (geometric), rounded to 2 digits
        inside = [float(f"{v:.2g}") for v in (lo, math.sqrt(lo * hi), hi)]
    return lo, hi, inside


def fit_log_axis(scale, axis, values) -> None:
    """Set a log ``scale``'s domain and its ``axis``'s decade ticks to fit ``values`` (nothing if none is > 0)."""
    domain = log_domain(values)
    if domain:
        scale.min, scale.max, axis.tick_values = domain


def plain_names(group_names: Sequence[str]) -> list[str]:
    """Layer groups in words a class knows: ``["body 1/2", "body 2/2", "head"]`` -> ``["early layers",
    "later layers", "the head"]`` (more body parts: "layers, part 1 of 3"...)."""
    body = [n for n in group_names if n != "head"]
    words = (["early layers", "later layers"] if len(body) == 2 else ["the body"] if len(body) == 1
             else [f"layers, part {i} of {len(body)}" for i in range(1, len(body) + 1)])
    return [words.pop(0) if n != "head" else "the head" for n in group_names]


class GroupLRFigure:
    """A figure of each layer group's LR per iteration on a log axis; :meth:`show` draws a ``groups x
    iterations`` array. The log scale gets an explicit domain from the start: bqplot fails to create a log
    axis whose marks start empty (seen in Chromium)."""

    def __init__(self, group_names: Sequence[str], x_label: str, title: str, height: str, css_class: str,
                 margin: dict):
        self.group_names = plain_names(group_names)  # the legend in a class's words
        x, self.scale = LinearScale(), LogScale(min=1e-6, max=1.0)
        self.lines = Lines(x=[], y=[], scales={"x": x, "y": self.scale}, colors=COLORS[:len(group_names)])
        self.axis = Axis(scale=self.scale, orientation="vertical", label="LR", tick_format=".1~e",
                         label_offset="58px",  # room for "7.9e-4" beside the axis
                         tick_values=log_domain([1e-6, 1.0])[2])  # bqplot's own log ticks overlap when empty
        self.figure = Figure(marks=[self.lines], axes=[Axis(scale=x, label=x_label), self.axis], title=title,
                             layout=Layout(width="100%", height=height), fig_margin={**margin, "left": 72})
        self.figure.add_class(css_class)
        self.legend = HTML()
        self.legend.add_class(f"{css_class}-legend")

    def show(self, x, series) -> None:
        """Draw ``series`` (groups x iterations) against ``x``; an empty one clears the lines."""
        series = np.asarray(series, dtype=float)
        with hold_all(self.lines, self.scale, self.axis):
            if series.size == 0:
                self.lines.x, self.lines.y = [], []
                self.legend.value = ""
                return
            same = np.allclose(series, series[:1])  # one line, not n hiding each other (or one group)
            # one line as a 1-D array: bqplot squeezes a 1 x 1 array to a scalar and refuses it
            self.lines.x, self.lines.y = np.asarray(x, dtype=float), series[0] if same else series
            self.lines.colors = ["#333333"] if same else COLORS[:len(self.group_names)]
            self.legend.value = legend_html(
                [("#333333", "—", "every layer group: the same LR" if len(series) > 1 else self.group_names[0])] if same
                else [(c, "—", name) for c, name in zip(COLORS, self.group_names)])
            fit_log_axis(self.scale, self.axis, series.ravel())
