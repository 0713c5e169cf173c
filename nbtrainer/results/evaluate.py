"""A trained model scored on a labelled folder it never saw (``nbtrainer evaluate``): accuracy, per-class
precision and recall, the confusion matrix, and one row per image for a CSV.

Example::

    result = evaluate_folder(Predictor.from_file("nbtrainer-out/model.safetensors"), "photos/test")
    result.interpretation.per_class(); result.write_csv("test.csv")
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.journal import write_atomically
from ..data.sources import scan_folder
from ..train.metrics import accuracy
from .interpret import Interpretation


@dataclass
class FolderEvaluation:
    """The predictions of every image of a labelled folder, in its order (``paths``)."""

    interpretation: Interpretation
    paths: list[str]

    @property
    def accuracy(self) -> float:
        return accuracy(self.interpretation.probs, self.interpretation.targets)

    def rows(self) -> list[dict]:
        """One row per image: its path, class, the predicted class and that class's probability."""
        it = self.interpretation
        best = it.probs.max(dim=1)
        return [{"path": path, "class": it.classes[int(t)], "predicted": it.classes[int(p)],
                 "probability": round(float(prob), 6), "correct": int(t) == int(p)}
                for path, t, p, prob in zip(self.paths, it.targets, best.indices, best.values)]

    def write_csv(self, path: str | os.PathLike) -> Path:
        return write_csv(path, self.rows())


def write_csv(path: str | os.PathLike, rows: list[dict]) -> Path:
    """``rows`` (dicts with the same keys) as a CSV file with a header, written atomically (a kill leaves the
    old file or the new one, whole)."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else [])
    writer.writeheader()
    writer.writerows(rows)
    return write_atomically(path, lambda f: f.write(text.getvalue().encode()))


def evaluate_folder(predictor, root: str | os.PathLike, bs: int = 64, tta: int = 0) -> FolderEvaluation:
    """Score ``predictor`` (a :class:`~nbtrainer.train.predict.Predictor`) on ``root``: one sub-folder per
    class, each named as one of the model's classes (not every class needs a folder). Every image is checked
    before any is predicted (a bad one is named); a folder of a class the model does not know is an error.
    ``tta=n``: with test-time augmentation (see :meth:`~nbtrainer.train.predict.Predictor.predict_batch`)."""
    folder = scan_folder(Path(root), min_classes=1, caller="nbtrainer evaluate")
    unknown = sorted(set(folder.classes) - set(predictor.classes))
    if unknown:
        raise ValueError(f"'{root}': class folder(s) {unknown} are not classes of this model; expected folders "
                         f"named as some of {predictor.classes}")
    paths = [path for path, _ in folder.samples]
    targets = torch.tensor([predictor.classes.index(folder.classes[t]) for _, t in folder.samples])
    probs = predictor.predict_batch(paths, bs, tta=tta)
    return FolderEvaluation(Interpretation(probs, targets, list(predictor.classes)), paths)
