"""Live training curves: smoothed training loss per batch, validation loss and accuracy per epoch, the LR
of every layer group per iteration; epoch boundaries (dotted) and SGDR restarts (dashed) drawn as
vertical rules; the cycle ends (squares) and the weights each fit kept (diamonds); the last epoch's numbers. (The progress bar of every stage is ``results_view.StageProgress``.)

It draws :class:`~nbtrainer.train.live.LiveFeed` updates (a few per second) and redraws everything from a
``history`` update (after going back to an earlier step).

Example::

    plot = TrainingPlot(learn.group_names)
    learn.fit(1e-2, n_cycle=3, callbacks=[LiveFeed(plot.update)])
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from bqplot import Axis, Figure, LinearScale, Lines, Scatter
from ipywidgets import HTML, Layout, VBox

from .render import GroupLRFigure, hold_all, legend_html


def _rules(xs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Vertical segments at ``xs`` for a Lines mark on a 0..1 y scale."""
    xs = np.asarray(xs, dtype=float)
    return np.stack([xs, xs], axis=1), np.tile([0.0, 1.0], (len(xs), 1))


class TrainingPlot(VBox):
    """Loss/accuracy figure, LR figure, last epoch line; :meth:`update` appends, a history update redraws."""

    def __init__(self, group_names: Sequence[str], **kwargs):
        self.group_names = list(group_names)
        x, y_loss, y_acc, unit = LinearScale(), LinearScale(), LinearScale(min=0, max=1), LinearScale(min=0, max=1)
        self.train_loss = Lines(x=[], y=[], scales={"x": x, "y": y_loss}, colors=["#1f77b4"],
                                labels=["train loss (smoothed)"])
        self.valid_loss = Lines(x=[], y=[], scales={"x": x, "y": y_loss}, colors=["#ff7f0e"], marker="circle",
                                marker_size=24, labels=["valid loss"])
        self.accuracy = Scatter(x=[], y=[], scales={"x": x, "y": y_acc}, colors=["#2ca02c"], default_size=30,
                                labels=["accuracy"])
        # SGDR judges a fit at its cycle ends (hollow squares); the weights a fit kept: a diamond
        self.cycle_ends = Scatter(x=[], y=[], scales={"x": x, "y": y_acc}, colors=["#2ca02c"], marker="square",
                                  default_size=90, fill=False, labels=["cycle end"])
        self.kept = Scatter(x=[], y=[], scales={"x": x, "y": y_acc}, colors=["#d62728"], marker="diamond",
                            default_size=110, labels=["kept"])
        self.epoch_rules = Lines(x=[], y=[], scales={"x": x, "y": unit}, colors=["#dddddd"], line_style="dotted")
        self.restart_rules = Lines(x=[], y=[], scales={"x": x, "y": unit}, colors=["#999999"], line_style="dashed")
        self.loss_figure = Figure(
            marks=[self.epoch_rules, self.restart_rules, self.train_loss, self.valid_loss, self.accuracy,
                   self.cycle_ends, self.kept],
            axes=[Axis(scale=x, label="iteration"), Axis(scale=y_loss, orientation="vertical", label="loss"),
                  Axis(scale=y_acc, orientation="vertical", side="right", label="accuracy", tick_format=".0%")],
            title="Training", layout=Layout(width="100%", height="290px"),
            fig_margin={"top": 40, "bottom": 45, "left": 55, "right": 55})
        self.loss_figure.add_class("nbt-training-plot")
        self.legend = HTML(legend_html([("#1f77b4", "—", "train loss (smoothed)"), ("#ff7f0e", "●", "valid loss"),
                                        ("#2ca02c", "●", "accuracy (right axis)"), ("#2ca02c", "□", "cycle end"),
                                        ("#d62728", "◆", "the weights kept")]))
        self.legend.add_class("nbt-training-legend")
        self.lr_plot = GroupLRFigure(self.group_names, "iteration", "LR per layer group (SGDR)", "200px",
                                     "nbt-lr-schedule-plot", {"top": 40, "bottom": 45, "left": 60, "right": 15})
        self.lr_lines, self.lr_figure = self.lr_plot.lines, self.lr_plot.figure
        self.status = HTML()
        self.status.add_class("nbt-training-status")
        self._clear()
        super().__init__([self.status, self.loss_figure, self.legend, self.lr_figure, self.lr_plot.legend], **kwargs)
        self.add_class("nbt-training")

    def _clear(self) -> None:
        self._b = {"iteration": [], "smooth": [], "lrs": []}
        self._epochs: list[dict] = []
        self._restarts: list[int] = []

    def update(self, update: dict) -> None:
        """Draw a :class:`~nbtrainer.train.live.LiveFeed` fit update, or redraw from a ``history`` update."""
        if update["kind"] == "history":
            self._clear()
        start = update.get("start")
        if start:
            self._restarts += start["restarts"]
        for key in self._b:
            self._b[key] += update["batches"][key]
        self._epochs += update["epochs"]
        self._draw(update)

    def _draw(self, update: dict) -> None:
        b, epochs = self._b, self._epochs
        marks = (self.train_loss, self.valid_loss, self.accuracy, self.cycle_ends, self.kept, self.epoch_rules,
                 self.restart_rules)
        with hold_all(*marks, self.status):
            self.train_loss.x, self.train_loss.y = np.array(b["iteration"], dtype=float), np.array(b["smooth"])
            ex = np.array([e["iteration"] for e in epochs], dtype=float)
            self.valid_loss.x, self.valid_loss.y = ex, np.array([e["valid_loss"] for e in epochs], dtype=float)
            self.accuracy.x, self.accuracy.y = ex, np.array([e["accuracy"] for e in epochs], dtype=float)
            for mark, key in ((self.cycle_ends, "cycle_end"), (self.kept, "kept")):
                chosen = [e for e in epochs if e.get(key)]
                mark.x = np.array([e["iteration"] for e in chosen], dtype=float)
                mark.y = np.array([e["accuracy"] for e in chosen], dtype=float)
            self.epoch_rules.x, self.epoch_rules.y = _rules(ex)
            self.restart_rules.x, self.restart_rules.y = _rules(self._restarts)
            if epochs:
                last = epochs[-1]
                self.status.value = (f"epoch {len(epochs)}: valid loss {last['valid_loss']:.4f}, "
                                     f"accuracy {last['accuracy']:.2%}")
        self.lr_plot.show(b["iteration"], np.array(b["lrs"], dtype=float).T if b["lrs"] else [])
