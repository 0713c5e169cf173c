"""Differential learning rates: one slider per boundary between layer groups, the resulting LRs, and a
preview of each group's LR over the next fit (SGDR with that step's cycle_len / cycle_mult).

The sliders only report moves (``on_change(boundary, ratio)``); the LRs and the preview come back
from the engine (:meth:`nbtrainer.Checklist.preview`) through :meth:`RatioSliders.show`.

Example::

    sliders = RatioSliders(["body 1/2", "body 2/2", "head"], on_change=model.set_ratio)
    sliders.show(model.ratios, model.preview)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from ipywidgets import HTML, FloatSlider, Layout, VBox

from .render import GroupLRFigure, plain_names


class RatioSliders(VBox):
    """``n - 1`` ratio sliders (1x..10x) for ``n`` layer groups, the group LRs, the LR preview plot."""

    def __init__(self, group_names: Sequence[str], on_change: Callable[[int, float], None] | None = None,
                 ratios: Sequence[float] | None = None, **kwargs):
        self.group_names, self.on_change = list(group_names), on_change
        n = len(self.group_names)
        ratios = list(ratios or [3.0] * (n - 1))
        self._echo: list[float | None] = [None] * (n - 1)  # the value show() is setting on each slider
        self.sliders = []
        words = plain_names(self.group_names)
        for k in range(n - 1):
            slider = FloatSlider(value=ratios[k], min=1.0, max=10.0, step=0.5, readout_format=".1f",
                                 description=f"{words[k]} (vs {words[k + 1].removeprefix('the ')})",
                                 tooltip=f"{self.group_names[k + 1]} LR / {self.group_names[k]} LR",
                                 continuous_update=False, style={"description_width": "215px"},
                                 layout=Layout(width="98%"))
            slider.add_class("nbt-ratio-slider")
            slider.observe(self._moved(k), names="value")
            self.sliders.append(slider)
        self.lrs_label = HTML()
        self.lrs_label.add_class("nbt-group-lrs")
        self.lr_figure = GroupLRFigure(self.group_names, "iteration of the next fit", "Next fit: LR per layer group",
                                       "170px", "nbt-lr-preview", {"top": 35, "bottom": 40, "left": 60, "right": 10})
        self.lines, self.figure = self.lr_figure.lines, self.lr_figure.figure
        title = HTML("<b>Differential learning rates</b>: how many times slower each part of the network learns "
                     "than the part after it (the pretrained early layers need the least change)")
        super().__init__([title, *self.sliders, self.lrs_label, self.figure, self.lr_figure.legend], **kwargs)
        self.add_class("nbt-ratios")

    def _moved(self, boundary: int):
        def moved(change) -> None:
            # the change :meth:`show` makes is the engine's own; any other is the user's (no "showing" flag:
            # show runs on the step's thread and such a flag would swallow a move made meanwhile)
            if self._echo[boundary] is not None and float(change["new"]) == self._echo[boundary]:
                self._echo[boundary] = None
            elif self.on_change is not None:
                self.on_change(boundary, float(change["new"]))
        return moved

    def show(self, ratios: Sequence[float], preview: dict) -> None:
        """Render the engine's ratios and the next fit's preview (:meth:`nbtrainer.Checklist.preview`)."""
        for k, (slider, ratio) in enumerate(zip(self.sliders, ratios)):
            shown = min(max(float(ratio), slider.min), slider.max)  # the slider clamps what it is given
            if slider.value != shown:
                self._echo[k] = shown
                slider.value = shown
        if not preview:
            self.lrs_label.value = "No fit step left to preview."
            self.lr_figure.show([], [])
            return
        names = ", ".join(f"{name}: {lr:.2g}" for name, lr in zip(plain_names(self.group_names), preview["lrs"]))
        self.lrs_label.value = f"Step {preview['step'] + 1} will use <b>{names}</b>"
        series = np.array(preview["series"])
        self.lr_figure.show(np.arange(series.shape[1]), series)
