"""The evaluation side of :class:`nbtrainer.Learner`: inference passes (announced to the progress bars),
validation predictions, TTA, one-image predictions and the inference-only export. ``Learner`` inherits it;
everything here works on the learner's own ``model``, ``data``, ``precision`` and callbacks.

Example::

    probs, targets = learn.get_preds()        # validation set, in order
    probs, targets = learn.tta(4)             # plain + 4 augmented passes, averaged
    label, probs = learn.predict("3.png")
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch

from . import distributed
from .callbacks import InferencePass
from .metrics import accuracy, nll


class Evaluation:
    """Methods of :class:`~nbtrainer.Learner` that predict rather than train."""

    @contextmanager
    def inference_pass(self, name: str, total: int):
        """Announce an inference pass of ``total`` batches (``before_inference``/``after_inference``; the
        progress bars use it); a pass inside another one (TTA's predictions) announces nothing more."""
        if self.inference is not None:
            yield
            return
        self.inference = InferencePass(name, total)
        self.run_event("before_inference")
        try:
            yield
        finally:
            self.run_event("after_inference")
            self.inference = None

    def inference_batch_done(self) -> None:
        """Count one batch of the current inference pass and announce it (``after_inference_batch``)."""
        if self.inference is not None:
            self.inference.done += 1
        self.run_event("after_inference_batch")

    def valid_batches(self) -> int:
        """Batches in one pass over the validation set (this rank's part of it under torch.distributed)."""
        part = distributed.shard(len(self.data.valid))
        return math.ceil((part.stop - part.start) / (2 * self.data.bs))

    @torch.inference_mode()
    def get_preds(self, augment: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Class probabilities and targets for the validation set (augmented images if ``augment``), in order.
        Under torch.distributed each rank predicts its part and every rank gets the whole set."""
        self.model.eval()
        use_cache = self.precompute and not augment
        part = distributed.shard(len(self.data.valid))
        batches = (self._current_activations().valid_batches(2 * self.data.bs, part) if use_cache
                   else self.data.valid_dl(augment=augment, part=part))
        probs, targets = [torch.empty(0, self.data.c)], [torch.empty(0, dtype=torch.long)]
        with self.inference_pass("predict", self.valid_batches()):
            for xb, yb in batches:
                with self.precision.autocast():
                    xb = xb.to(self.device, non_blocking=True)
                    pred = self.model.head(xb) if use_cache else self._on_images(xb)
                probs.append(pred.float().softmax(dim=1).cpu())
                targets.append(yb)
                self.inference_batch_done()
        return distributed.gather(torch.cat(probs)), distributed.gather(torch.cat(targets))

    def predict(self, item) -> tuple[str, torch.Tensor]:
        """``(label, probabilities)`` for one image: a path, a PIL image or an ``H x W x C`` uint8 array,
        through the plain (validation) pipeline. A file that is not an image raises an error naming it."""
        from .predict import predict_one

        return predict_one(self.model, self.data.size, self.data.classes, item, self.device)

    def validate(self) -> tuple[float, float]:
        """``(loss, accuracy)`` on the validation set, without augmentation."""
        probs, targets = self.get_preds()
        return nll(probs, targets), accuracy(probs, targets)

    def tta(self, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
        """Test-time augmentation: the mean of the plain and ``n`` augmented predictions of the validation set."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n={n!r}: expected the number of augmented passes, an integer >= 1")
        with self.inference_pass("tta", (n + 1) * self.valid_batches()):
            probs, targets = self.get_preds()
            for _ in range(n):
                probs = probs + self.get_preds(augment=True)[0]
        return probs / (n + 1), targets

    def export(self, path):
        """An inference-only ``torch.export`` file with the preprocessing and class names inside; it loads
        and predicts without nbtrainer (see :mod:`nbtrainer.export`)."""
        from .export import export

        return distributed.on_main(lambda: export(self, path), f"export to '{path}'")
