"""After training: the progress bar of the running stage, tab 3 "Check mistakes" (confusion matrix as a
bqplot heat map, the top losses as an image grid with the cleaner) and tab 4 "Try it" (pick a picture, see
the class).

CSS classes: ``nbt-stage-progress``, ``nbt-interpret`` (button), ``nbt-confusion``, ``nbt-top-losses``,
``nbt-clean-choice`` (keep / delete / a class, under each top-loss image), ``nbt-clean-apply``,
``nbt-clean-undo``, ``nbt-upload``, ``nbt-try-image``, ``nbt-prediction``.

Example::

    view = InterpretView(on_interpret=model.interpret)
    view.show(model.interpretation, model.image_png)
"""
from __future__ import annotations

import html
import io
from collections.abc import Callable

import numpy as np
from bqplot import Axis, ColorScale, Figure, GridHeatMap, OrdinalScale
from ipywidgets import (HTML, Button, Checkbox, Dropdown, GridBox, HBox, Image, IntProgress, Layout,
                        VBox)

from ..present.text import format_seconds
from .camera import CameraView
from .picture_upload import PictureUpload


def png_bytes(pixels: np.ndarray, scale: int = 1) -> bytes:
    """An ``H x W x 3`` uint8 array as PNG bytes (enlarged ``scale`` times, nearest: small images stay sharp)."""
    from PIL import Image as PILImage

    image = PILImage.fromarray(pixels)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), PILImage.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class StageProgress(HBox):
    """The running stage: a bar and "fit 12/44 · epoch 1/2 · 0:03 elapsed · 0:08 left"."""

    def __init__(self, **kwargs):
        self.bar = IntProgress(value=0, min=0, max=1, layout=Layout(width="50%"))
        self.label = HTML("idle")
        super().__init__([self.bar, self.label], **kwargs)
        self.add_class("nbt-stage-progress")

    def show(self, info: dict) -> None:
        if not info:
            return
        style, left = self._ending(info)
        with self.bar.hold_sync():
            self.bar.max, self.bar.value = max(1, info["total"]), info["done"]
            self.bar.bar_style = style
        epoch = f" · epoch {info['epoch']}/{info['n_epochs']}" if info.get("epoch") else ""
        self.label.value = (f"{info['stage']} {info['done']}/{info['total']}{epoch} · "
                            f"{format_seconds(info['elapsed'])} elapsed · {left}")

    @staticmethod
    def _ending(info: dict) -> tuple[str, str]:
        """The bar's style and the label's last words: none and the time left while a stage runs; green "done"
        for one that ran to its end; red for one the Stop button cut short; orange "ended early" for an early
        stop (over-fitting, the time budget), which never says "done"."""
        if not info["finished"]:
            return "", f"{format_seconds(info['eta'])} left"
        if info["done"] >= info["total"]:
            return "success", "done"
        if info.get("stopped"):
            return "danger", "stopped: you pressed Stop"
        return "warning", "ended early (see the checklist's message)"


class InterpretView(VBox):
    """Interpret button (with TTA or not), confusion-matrix heat map, per-class table, top-loss images."""

    def __init__(self, on_interpret: Callable[[bool], None], on_clean: Callable[[dict], None] | None = None,
                 on_undo: Callable[[], None] | None = None, confirm_bar=None, **kwargs):
        self.button = Button(description="Interpret", button_style="info", tooltip="what does the model get wrong?")
        self.button.add_class("nbt-interpret")
        self.tta = Checkbox(value=False, description="with TTA", indent=False)
        self.button.on_click(lambda _: on_interpret(self.tta.value))
        self._scales = {"row": OrdinalScale(reverse=True), "column": OrdinalScale(), "color": ColorScale(min=0, colors=["#ffffff", "#6baed6"])}  # black counts stay readable on the darkest cell
        # The heat map and its figure are made at the first show(): bqplot needs the rows and columns, and an
        # empty figure drawn in a hidden tab logs errors (negative sizes, NaN positions) in the browser.
        self.heat: GridHeatMap | None = None
        self.figure: Figure | None = None
        self.summary = HTML()
        self.grid = GridBox(layout=Layout(grid_template_columns="repeat(3, 150px)", grid_gap="6px"))
        self.grid.add_class("nbt-top-losses")
        self.body = HBox([self.grid])
        self.choices: dict[int, Dropdown] = {}  # the cleaner: per top-loss image, keep / delete / a class
        self.apply = Button(description="Apply changes", button_style="warning", disabled=True,
                            tooltip="relabel or delete these files in the data folder (asks first; Undo puts them back)")
        self.apply.add_class("nbt-clean-apply")
        self.undo = Button(description="Undo", tooltip="put back the files of the last change")
        self.undo.add_class("nbt-clean-undo")
        if on_clean is not None:
            self.apply.on_click(lambda _: on_clean({i: d.value for i, d in self.choices.items() if d.value != "keep"}))
        if on_undo is not None:
            self.undo.on_click(lambda _: on_undo())
        cleaner = [self.apply, self.undo] if on_clean is not None else []
        bar = [confirm_bar] if confirm_bar is not None else []
        self.message = HTML()  # what Apply and Undo did, here where they were pressed
        self.message.add_class("nbt-clean-message")
        self.legend = HTML()
        self.legend.add_class("nbt-top-losses-legend")
        super().__init__([HBox([self.button, self.tta, *cleaner]), *bar, self.message, self.summary, self.legend,
                          self.body], **kwargs)

    def show_message(self, text: str) -> None:
        self.message.value = f"<b>{html.escape(text)}</b>" if text else ""

    def reset_choices(self) -> None:
        """Every picture back to "keep": a change applied (or undone) is not applied twice by a second Apply."""
        for choice in self.choices.values():
            choice.value = "keep"

    def show(self, result: dict, image_png: Callable[[int], bytes]) -> None:
        """Render :meth:`Interpretation.to_dict` output; ``image_png(index)`` gives a validation image."""
        if not result:
            return
        self.show_message("")  # a refusal said before these results is no longer true
        classes = result["classes"]
        counts = np.array(result["confusion_matrix"], dtype=float)
        if self.heat is None or list(self.heat.row) != classes:
            self.heat = GridHeatMap(row=classes, column=classes, color=counts, scales=self._scales,
                                    display_format=".0f", font_style={"font-size": "11px"})
            left = max(60, min(170, 40 + 7 * max(map(len, classes))))  # room for the longest class name
            self.figure = Figure(marks=[self.heat], axes=[
                Axis(scale=self._scales["column"], label="predicted"),
                Axis(scale=self._scales["row"], orientation="vertical", label="actual",
                     label_offset=f"{left - 14}px")],  # left of the names ("actual" sat on "coffee")
                title="Confusion matrix", layout=Layout(width=f"{360 + left}px", height="420px"),
                fig_margin={"top": 40, "bottom": 50, "left": left, "right": 10})
            self.figure.add_class("nbt-confusion")
            self.body.children = [self.figure, self.grid]
        else:
            self.heat.color = counts
        pairs = ", ".join(f"{a}→{p} ({n})" for a, p, n in result["most_confused"][:5]) or "none"
        self.summary.value = (f"accuracy {result['accuracy']:.2%}{' (TTA)' if result['tta'] else ''} · most "
                              f"confused (actual→predicted): {html.escape(pairs)}")
        cells, self.choices = [], {}
        self.legend.value = ("<small>The pictures the model is most wrong about; under each: <b>predicted / actual / "
                             "loss / probability of the actual class</b>. Choose <i>delete</i> or the right class "
                             "for a wrong label, then <i>Apply changes</i>.</small>") if result["top_losses"] else ""
        for row in result["top_losses"]:
            caption = HTML(f"<small>{html.escape(row['predicted'])} / {html.escape(row['actual'])} / "
                           f"{row['loss']:.2f} / {row['prob_actual']:.2f}</small>")
            choice = Dropdown(options=["keep", "delete", *classes], value="keep", layout=Layout(width="140px"))
            choice.add_class("nbt-clean-choice")
            self.choices[row["index"]] = choice
            cells.append(VBox([Image(value=image_png(row["index"]), format="png", layout=Layout(width="140px")),
                               caption, choice]))
        self.grid.children = cells
        self.apply.disabled = not self.choices


class PredictView(VBox):
    """Pick a picture, or point the camera: the predicted class and the three likeliest. The picker is
    :class:`PictureUpload` (one picture, its size checked in the browser), not ``FileUpload``, whose one message
    per choice Jupyter's websocket drops over 10 MiB: the picker then never worked again on that page. The
    camera (:class:`~nbtrainer.widget.camera.CameraView`, live) hands ``on_frame`` a frame at a time."""

    def __init__(self, on_upload: Callable[[bytes], None], on_frame: Callable[[bytes], None] | None = None,
                 **kwargs):
        self.upload = PictureUpload(multiple=False, label="Pick a picture", on_files=lambda files: files and
                                    on_upload(files[0][1]), on_refused=lambda text: self.show({"error": text}))
        self.upload.remove_class("nbt-images-upload")  # that one is the classes' picker
        self.upload.add_class("nbt-upload")
        self.camera = CameraView(live=True, on_frame=on_frame or on_upload, start_label="Or use the camera",
                                 on_refused=lambda text: self.show({"error": text}))
        self.image = Image(format="png", layout=Layout(width="160px", display="none"))
        self.image.add_class("nbt-try-image")
        self.result = HTML("Pick a picture the model has never seen (after training), or use the camera: the class "
                           "it names, and its three likeliest classes.")
        self.result.add_class("nbt-prediction")
        self.result.layout.margin = "0 0 0 12px"
        super().__init__([HBox([VBox([self.upload, self.image]), self.camera, self.result],
                               layout=Layout(align_items="flex-start"))], **kwargs)

    def show(self, prediction: dict) -> None:
        if not prediction:
            return
        if prediction.get("error"):  # the picture shown before is not this answer's: hidden
            with self.hold_sync():
                self.image.layout.display = "none"
                self.result.value = f"<span style='color:#d62728'>{html.escape(prediction['error'])}</span>"
            return
        top = "<br>".join(f"{html.escape(name)}: {p:.1%}" for name, p in prediction["top"])
        with self.hold_sync():
            if "png" in prediction:  # a picked picture; the camera's frame is on show in its video already
                self.image.value, self.image.layout.display = prediction["png"], None
            else:
                self.image.layout.display = "none"
            self.result.value = f"<b>{html.escape(prediction['label'])}</b><br>{top}"
