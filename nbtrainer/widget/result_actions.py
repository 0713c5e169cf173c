"""After training, in :class:`~nbtrainer.widget.model.TrainerModel` (a mixin: it uses the model's worker,
lock, traits and callbacks; each change through its ``write``): the interpretation (on the worker thread, with Stop and progress) and the
prediction of an uploaded picture.

Example::

    model.interpret(tta=False); model.worker.join()
    model.interpretation["top_losses"][0]
    model.predict_bytes(open("3.png", "rb").read()); model.prediction["label"]
"""
from __future__ import annotations

import numpy as np

from ..data.sources import BadImageError
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

    def predict_bytes(self, content: bytes, top: int = 3) -> None:
        """Predict an uploaded picture (its file's bytes), converted as training images are; a file that is
        not an image shows an error. Refused while a step runs (predicting puts the model in eval mode)."""
        with self._lock:
            if self.busy:
                self.write(prediction={"error": "wait for the running step to finish (or press Stop) before predicting"})
                return
            try:
                image = as_image(content)
            except BadImageError as e:
                self.write(prediction={"error": f"the uploaded file is not an image this model can read: {e}"})
                return
            label, probs = self.learn.predict(image)
            best = probs.argsort(descending=True)[:top].tolist()
            classes = self.learn.data.classes
            self.write(prediction={"label": label, "top": [(classes[i], float(probs[i])) for i in best],
                                   "pixels": np.asarray(image), "seq": next(self._seq)})
