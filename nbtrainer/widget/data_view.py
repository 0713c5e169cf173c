"""The "Your pictures" tab, the students' own images first (Teachable Machine's order): classes made and pictures
uploaded into the session's folder, Undo, "Train on this folder"; or a standard teaching set
(:mod:`nbtrainer.datasets`, downloaded once); the bar that asks before anything is written
(:class:`ConfirmBar`). Below, the data being trained on: images per class in train and valid, a few images of
each class, one training image under several draws of the augmentation (what the model sees when augmentation
is on).

It draws what the model publishes (``data_overview``, ``confirm``, ``message``) and forwards clicks to the
model's :class:`~nbtrainer.widget.data_actions.DataActions`.

CSS classes: ``nbt-data``, ``nbt-class-counts``, ``nbt-samples``, ``nbt-aug-preview``, ``nbt-data-refresh``,
``nbt-aug-redraw``, ``nbt-data-folder``, ``nbt-use-folder``, ``nbt-class-name``, ``nbt-images-upload``,
``nbt-add-images`` (with ``nbt-upload-button``, ``nbt-upload-limit``), ``nbt-camera`` (:mod:`.camera`), ``nbt-undo-edit``, ``nbt-dataset``, ``nbt-use-dataset``, ``nbt-data-message``; the bar ``nbt-confirm``, ``nbt-confirm-text``,
``nbt-confirm-yes``, ``nbt-confirm-no``.
"""
from __future__ import annotations

import html
from collections.abc import Callable

from ipywidgets import HTML, Button, Checkbox, Dropdown, FloatSlider, HBox, Image, Layout, Text, VBox

from ..data.transforms import AUGMENT_RANGES
from ..datasets.catalog import SETS

from .camera import CameraView
from .picture_upload import PictureUpload
from .results_view import png_bytes

THUMB = 64  # px a thumbnail is shown at
AUG_SLIDERS = {"max_rotate": ("rotate °", 45.0, 1.0), "max_zoom": ("zoom", 2.0, 0.05),
               "max_translate": ("shift", 0.3, 0.01), "max_lighting": ("lighting", 0.8, 0.05)}  # label, max, step


def _thumb(pixels) -> Image:
    scale = max(1, THUMB // max(pixels.shape[:2]))
    return Image(value=png_bytes(pixels, scale=scale), format="png", layout=Layout(width=f"{THUMB}px"))


class DataView(VBox):
    """Class counts, a sample grid per class and the augmentation preview."""

    def __init__(self, on_show: Callable[[int], None], model=None, confirm_bar=None, **kwargs):
        self.draws = 0
        own = self._own_images(model) if model is not None else []
        own += [confirm_bar] if confirm_bar is not None else []
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
        self.aug_controls = self._aug_controls(model) if model is not None else {}
        controls = HBox(list(self.aug_controls.values()), layout=Layout(flex_flow="row wrap"))
        now = HTML("<b>The pictures it trains on now</b>")
        super().__init__([*own, now, HBox([self.refresh, self.redraw]), self.counts, self.samples, self.aug_text,
                          controls, self.preview], **kwargs)
        self.add_class("nbt-data")

    def _aug_controls(self, model) -> dict:
        """A control per augmentation setting; a change goes to the engine, whose settings come back through
        :meth:`show_aug` (a refused value goes back)."""
        controls = {"do_flip": Checkbox(value=model.aug["do_flip"], description="flip", indent=False,
                                        layout=Layout(width="80px"))}
        for name, (label, hi, step) in AUG_SLIDERS.items():
            controls[name] = FloatSlider(value=model.aug[name], min=AUGMENT_RANGES[name][0], max=hi, step=step,
                                         description=label, continuous_update=False, readout_format=".2f",
                                         style={"description_width": "70px"}, layout=Layout(width="260px"))
        for name, control in controls.items():
            control.add_class(f"nbt-aug-{name}")
            control.observe(lambda c, name=name: model.set_aug(name, c["new"]), names="value")
        return controls

    def show_aug(self, aug: dict) -> None:
        """The engine's augmentation settings on the controls (no event when a value is unchanged)."""
        for name, control in self.aug_controls.items():
            if control.value != aug[name]:
                control.value = aug[name]

    def _own_images(self, model) -> list:
        """The students' own images: a folder to train on, a class and pictures to add to it, Undo."""
        def button(label: str, css: str, action, style: str = "") -> Button:
            b = Button(description=label, button_style=style, layout=Layout(width="auto"))
            b.add_class(css)
            b.on_click(lambda _: action())
            return b

        self.folder = Text(value=model.shown(model.data_root), description="folder", layout=Layout(width="420px"))
        self.folder.add_class("nbt-data-folder")
        self.class_name = Text(placeholder="e.g. cats", description="class", layout=Layout(width="220px"))
        self.class_name.add_class("nbt-class-name")
        self.files = PictureUpload(on_refused=lambda text: model.write(message=text))  # the model's one writer
        self.camera = CameraView(on_refused=lambda text: model.write(message=text))
        self.message = HTML()
        self.message.add_class("nbt-data-message")
        use = button("Train on this folder", "nbt-use-folder", lambda: model.use_folder(self.folder.value), "warning")
        add = button("Add to class", "nbt-add-images", lambda: self._add(model), "info")
        undo = button("Undo last change", "nbt-undo-edit", model.undo_edit)
        title = HTML("<b>Your own pictures</b>: name a class, pick its pictures or take them with the camera, "
                     "<i>Add to class</i>; two classes or more, then <i>Train on this folder</i> (one sub-folder a "
                     "class; every change asks first and can be undone)")
        self.dataset = Dropdown(options=[(s.title, name) for name, s in SETS.items()], description="or a set",
                                layout=Layout(width="300px"))
        self.dataset.add_class("nbt-dataset")
        get = button("Download and train on it", "nbt-use-dataset", lambda: model.use_dataset(self.dataset.value))
        return [title, HBox([self.class_name, self.files, add, undo]), self.camera, HBox([self.folder, use]),
                HBox([self.dataset, get]), self.message]

    def _add(self, model) -> None:
        """The picked pictures and the camera's frames to the class named (the model asks first)."""
        if model.upload(self.class_name.value.strip(), [*self.files.files, *self.camera.frames]):  # taken: the
            # question that follows holds them; the name is cleared for the next class
            self.files.clear()
            self.camera.clear()
            self.class_name.value = ""

    def show_message(self, text: str) -> None:
        if hasattr(self, "message"):
            self.message.value = html.escape(text, quote=False)

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



class ConfirmBar(HBox):
    """A question with Yes / Cancel, shown only while one waits (``confirm`` trait); hidden otherwise."""

    def __init__(self, on_answer: Callable[[bool], None], **kwargs):
        self.text = HTML(layout=Layout(flex="1 1 auto"))
        self.text.add_class("nbt-confirm-text")
        self.yes = Button(description="Yes", button_style="danger", layout=Layout(width="70px"))
        self.yes.add_class("nbt-confirm-yes")
        self.yes.on_click(lambda _: on_answer(True))
        self.no = Button(description="Cancel", layout=Layout(width="80px"))
        self.no.add_class("nbt-confirm-no")
        self.no.on_click(lambda _: on_answer(False))
        super().__init__([self.text, self.yes, self.no], layout=Layout(display="none", border="2px solid #ff7f0e",
                                                                        padding="4px", align_items="center"), **kwargs)
        self.add_class("nbt-confirm")

    def show(self, question: dict) -> None:
        with self.hold_sync():
            self.text.value = f"<b>{html.escape(question.get('text', ''))}</b>"
            self.layout.display = None if question else "none"
