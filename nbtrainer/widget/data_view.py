"""The Data tab: images per class in train and valid, a few images of each class, and one training image under
several draws of the augmentation (what the model sees when augmentation is on).

It draws what :meth:`TrainerModel.data_overview` publishes (from :mod:`nbtrainer.data.overview`); "Show"
and "Another draw" forward to the model.

CSS classes: ``nbt-data``, ``nbt-class-counts``, ``nbt-samples``, ``nbt-aug-preview``, ``nbt-data-refresh``,
``nbt-aug-redraw``.
"""
from __future__ import annotations

import html
from collections.abc import Callable

from ipywidgets import HTML, Button, HBox, Image, Layout, VBox

from .results_view import png_bytes

THUMB = 64  # px a thumbnail is shown at


def _thumb(pixels) -> Image:
    scale = max(1, THUMB // max(pixels.shape[:2]))
    return Image(value=png_bytes(pixels, scale=scale), format="png", layout=Layout(width=f"{THUMB}px"))


class DataView(VBox):
    """Class counts, a sample grid per class and the augmentation preview."""

    def __init__(self, on_show: Callable[[int], None], **kwargs):
        self.draws = 0
        self.refresh = Button(description="Show the data", button_style="info",
                              tooltip="count the classes and draw some images")
        self.refresh.add_class("nbt-data-refresh")
        self.refresh.on_click(lambda _: on_show(self.draws))
        self.redraw = Button(description="Another draw", tooltip="the same image under new augmentations")
        self.redraw.add_class("nbt-aug-redraw")
        self.redraw.on_click(lambda _: self._again(on_show))
        self.counts = HTML("Press <i>Show the data</i> to see the classes and some images.")
        self.counts.add_class("nbt-class-counts")
        self.samples = VBox()
        self.samples.add_class("nbt-samples")
        self.preview = HBox(layout=Layout(flex_flow="row wrap"))
        self.preview.add_class("nbt-aug-preview")
        self.aug_text = HTML()
        super().__init__([HBox([self.refresh, self.redraw]), self.counts, self.samples, self.aug_text, self.preview],
                         **kwargs)
        self.add_class("nbt-data")

    def _again(self, on_show: Callable[[int], None]) -> None:
        self.draws += 1
        on_show(self.draws)

    def show(self, overview: dict) -> None:
        """Render a ``data_overview`` dict: ``counts`` (rows of class, train, valid), ``samples`` (class ->
        pixel arrays), ``preview`` (pixel arrays, the plain one first), ``aug`` (the settings) or ``error``."""
        if not overview:
            return
        if overview.get("error"):
            self.counts.value = f"<span style='color:#d62728'>{html.escape(overview['error'])}</span>"
            return
        rows = "".join(f"<tr><td>{html.escape(c)}</td><td>{t}</td><td>{v}</td></tr>" for c, t, v in overview["counts"])
        total_t, total_v = sum(r[1] for r in overview["counts"]), sum(r[2] for r in overview["counts"])
        self.counts.value = (f"<table><tr><th>class</th><th>train</th><th>valid</th></tr>{rows}"
                             f"<tr><td><b>all</b></td><td><b>{total_t}</b></td><td><b>{total_v}</b></td></tr></table>")
        self.samples.children = [
            HBox([HTML(f"<b>{html.escape(name)}</b>", layout=Layout(width="110px")), *map(_thumb, images)],
                 layout=Layout(align_items="center"))
            for name, images in overview["samples"].items()]
        aug = ", ".join(f"{k}={v}" for k, v in overview["aug"].items())
        self.aug_text.value = (f"<b>Augmentation</b> (used when a step has augment on): {html.escape(aug)}. "
                               "The first image is the plain one.")
        self.preview.children = [_thumb(p) for p in overview["preview"]]

