"""What the classifier gets wrong, as fastai's ``ClassificationInterpretation`` shows it: the confusion
matrix, precision and recall per class, the most confused pairs, the validation images with the highest
losses; computed on plain or test-time-augmented predictions of the validation set.

Example::

    interp = Interpretation.from_learner(learn, tta=True)
    interp.confusion_matrix()          # rows: actual class, columns: predicted class
    interp.most_confused()[:3]         # [("4", "9", 3), ...]: actual, predicted, count
    interp.top_losses(9)               # dicts with the index, labels, probabilities and loss
    interp.image(interp.top_losses(1)[0]["index"])   # that validation image, H x W x 3 uint8
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..train.evaluation import TTA_N
from ..train.metrics import accuracy, target_losses


@dataclass
class Interpretation:
    """Predictions of the validation set (``probs`` N x C, ``targets`` N) with their classes and data."""

    probs: torch.Tensor
    targets: torch.Tensor
    classes: list[str]
    data: object = None  # the ImageData, for images() and paths()
    tta: bool = False

    @classmethod
    def from_learner(cls, learn, tta: bool = False, n: int = TTA_N) -> "Interpretation":
        """Plain predictions of ``learn``'s validation set, or ``tta`` with ``n`` augmented passes."""
        probs, targets = learn.tta(n) if tta else learn.get_preds()
        return cls(probs, targets, list(learn.data.classes), learn.data, tta)

    @property
    def preds(self) -> torch.Tensor:
        return self.probs.argmax(dim=1)

    @property
    def losses(self) -> torch.Tensor:
        """Each image's cross-entropy: ``-log p(actual class)``."""
        return target_losses(self.probs, self.targets)

    def confusion_matrix(self) -> torch.Tensor:
        """``C x C`` counts; row = actual class, column = predicted class."""
        c = len(self.classes)
        return torch.bincount(self.targets * c + self.preds, minlength=c * c).reshape(c, c)

    def per_class(self) -> list[dict]:
        """Precision, recall and support (images of that class) for every class."""
        cm = self.confusion_matrix().double()
        rows = []
        for i, name in enumerate(self.classes):
            predicted, actual = cm[:, i].sum().item(), cm[i].sum().item()
            rows.append({"class": name, "precision": cm[i, i].item() / predicted if predicted else float("nan"),
                         "recall": cm[i, i].item() / actual if actual else float("nan"), "support": int(actual)})
        return rows

    def most_confused(self, min_count: int = 1) -> list[tuple[str, str, int]]:
        """``(actual, predicted, count)`` of the off-diagonal cells with at least ``min_count``, most first."""
        cm = self.confusion_matrix()
        pairs = [(self.classes[a], self.classes[p], int(cm[a, p])) for a in range(len(self.classes))
                 for p in range(len(self.classes)) if a != p and cm[a, p] >= min_count]
        return sorted(pairs, key=lambda t: (-t[2], t[0], t[1]))

    def top_losses(self, k: int = 9) -> list[dict]:
        """The ``k`` validation images with the highest loss: index, actual and predicted class, their
        probabilities, the loss (and the file, for images on disk)."""
        losses = self.losses
        order = torch.argsort(losses, descending=True)[:k].tolist()
        rows = []
        for i in order:
            actual, predicted = int(self.targets[i]), int(self.preds[i])
            row = {"index": i, "actual": self.classes[actual], "predicted": self.classes[predicted],
                   "prob_actual": float(self.probs[i, actual]), "prob_predicted": float(self.probs[i, predicted]),
                   "loss": float(losses[i])}
            path = self.path(i)
            if path is not None:
                row["path"] = path
            rows.append(row)
        return rows

    def image(self, index: int) -> np.ndarray:
        """Validation image ``index`` as stored (before resizing), ``H x W x 3`` uint8."""
        split = self.data.valid
        item = split.source.load(split.indices[index])
        if isinstance(item, torch.Tensor):  # C x H x W uint8 from memory
            arr = item.permute(1, 2, 0).numpy()
            return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr
        return np.asarray(item.convert("RGB"))

    def path(self, index: int) -> str | None:
        split = self.data.valid if self.data is not None else None
        if split is None or not hasattr(split.source, "path"):
            return None
        return split.source.path(split.indices[index])

    def _repr_html_(self) -> str:
        """Accuracy, the most confused pairs, and per-class precision and recall, as HTML tables."""
        from ..present.html import MAX_ROWS, pct, table

        head = (f"<b>Interpretation</b>{' (TTA)' if self.tta else ''}: accuracy "
                f"{accuracy(self.probs, self.targets):.2%} on {len(self.targets)} validation images")
        confused = self.most_confused()[:5]
        worst = table(["actual", "predicted", "images"], [list(t) for t in confused]) if confused else "no mistakes"
        per_class = [[r["class"], pct(r["precision"]), pct(r["recall"]), r["support"]]
                     for r in self.per_class()[:MAX_ROWS]]
        return (f"<div>{head}<br><i>most confused</i>{worst}<i>per class</i>"
                f"{table(['class', 'precision', 'recall', 'images'], per_class)}</div>")

    def to_dict(self, k: int = 9) -> dict:
        """Everything above as plain JSON-ready values."""
        return {"tta": self.tta, "classes": self.classes, "accuracy": accuracy(self.probs, self.targets),
                "confusion_matrix": self.confusion_matrix().tolist(), "per_class": self.per_class(),
                "most_confused": [list(t) for t in self.most_confused()], "top_losses": self.top_losses(k)}
