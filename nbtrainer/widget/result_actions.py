"""After training, in :class:`~nbtrainer.widget.model.TrainerModel` (a mixin: it uses the model's worker,
lock, traits and callbacks; each change through its ``write``): the interpretation (on the worker thread, with
Stop and progress), the prediction of an uploaded picture, and what a student takes home (the script, the model
file, the report, the ONNX file, the web page), each written atomically in the session folder.

Example::

    model.interpret(tta=False); model.worker.join()
    model.interpretation["top_losses"][0]
    model.predict_bytes(open("3.png", "rb").read()); model.prediction["label"]
    model.export("session/recipe.py"); model.save_model_file("session/model.safetensors")
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..data.journal import write_atomically
from ..data.sources import BadImageError
from ..export.web_page import zip_folder
from ..report import report_html
from ..results.interpret import Interpretation
from ..train.predict import as_image


class ResultActions:
    """Mixin for TrainerModel: Interpret and Predict."""

    def interpret(self, tta: bool = False) -> None:
        """Compute the :class:`~nbtrainer.results.interpret.Interpretation` (plain or TTA) on the worker thread."""
        self._start(self._interpret, tta)

    def _interpret(self, tta: bool) -> None:
        """The worker's job (see ``TrainerModel._start``)."""
        try:
            with self.learn.added_callbacks(self._callbacks()):
                interp = Interpretation.from_learner(self.learn, tta=tta)
        except Exception as e:
            self.write(message=f"interpretation failed: {type(e).__name__}: {self.places.hide(str(e))}")
            return
        self.write(lambda: setattr(self, "interp", interp),
                   interpretation={**interp.to_dict(), "seq": next(self._seq)})

    def interp_image(self, index: int) -> np.ndarray:
        """Validation image ``index`` of the latest interpretation, ``H x W x 3`` uint8 (for its view)."""
        return self.interp.image(index)

    def predict_bytes(self, content: bytes, top: int = 3, show: bool = True) -> None:
        """Predict an uploaded picture (its file's bytes), converted as training images are; a file that is
        not an image shows an error. Refused while a step runs (predicting puts the model in eval mode).
        ``show=False``: the answer without the picture (a camera frame: the browser shows it already)."""
        with self._lock:
            if self.busy:
                self.write(prediction={"error": "wait for the running step to finish (or press Stop in 2. Train) "
                                                "before predicting"})
                return
            try:
                image = as_image(content)
            except BadImageError as e:
                self.write(prediction={"error": f"the uploaded file is not an image this model can read: {e}"})
                return
            label, probs = self.learn.predict(image)
            best = probs.argsort(descending=True)[:top].tolist()
            classes = self.learn.data.classes
            answer = {"label": label, "top": [(classes[i], float(probs[i])) for i in best], "seq": next(self._seq)}
            self.write(prediction={**answer, "pixels": np.asarray(image)} if show else answer)

    def predict_frame(self, content: bytes) -> None:
        """A camera frame (JPEG bytes) in "Try it": predicted as a picture, its answer shown without it."""
        self.predict_bytes(content, show=False)

    def export(self, path: str | Path) -> Path | None:
        """Write the steps run so far as a Python script (:meth:`Checklist.to_script`)."""
        return self._take_home(Path(path), "exporting", lambda: self._guarded(self.checklist.to_script))

    def save_model_file(self, path: str | Path) -> Path | None:
        """Write the weights-only model file (:meth:`Learner.save_model`; ``Predictor.from_file`` loads it)."""
        if self._untrained("the model file"):
            return None
        return self._take_home(Path(path), "saving the model", lambda: self.learn.save_model(path))

    def save_onnx(self, path: str | Path) -> Path | None:
        """Write the classifier as ONNX, its preprocessing inside (:meth:`Learner.export_onnx`)."""
        if self._untrained("the ONNX file"):
            return None
        return self._take_home(Path(path), "exporting the ONNX file", lambda: self.learn.export_onnx(path))

    def save_web_page(self, folder: str | Path) -> Path | None:
        """Write the web page that runs the classifier (:meth:`Learner.export_web`) into ``folder`` and zip
        it as ``folder.zip`` (what the browser downloads); returns the zip's path."""
        if self._untrained("the web page"):
            return None
        folder = Path(folder)
        return self._take_home(folder.with_suffix(".zip"), "making the web page",
                               lambda: zip_folder(self.learn.export_web(folder), folder.with_suffix(".zip")))

    def _untrained(self, what: str) -> bool:
        """No fit has run: says so (``what`` would hold an untrained head)."""
        if any(s.action == "fit" and s.status in ("done", "stopped") for s in self.checklist.steps):
            return False
        self.write(message=f"train first: no fit step has run yet, so {what} would hold an untrained head")
        return True

    def save_report(self, path: str | Path) -> Path | None:
        """Write the run's report as one HTML page (:func:`nbtrainer.report.report_html`)."""
        return self._take_home(Path(path), "writing the report",
                               lambda: report_html(self.learn, self.checklist, f"nbtrainer: {self.title}"))

    def _take_home(self, path: Path, doing: str, make: Callable[[], "str | Path | None"]) -> Path | None:
        """Make a file the student takes home, refused while a step runs (it would read weights being
        trained); ``make`` returns the text to write atomically at ``path``, or the path it wrote itself."""
        with self._lock:
            if self.busy:
                self.write(message=f"wait for the running step to finish (or press Stop in 2. Train) before {doing}")
                return None
            made = make()
            if not made:
                return None
            if isinstance(made, str):
                write_atomically(path, lambda f: f.write(made.encode()))
            self.write(message=f"wrote '{self.places.shown(path)}' (in your session folder)")
            return path
