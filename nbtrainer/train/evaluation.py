"""The evaluation side of :class:`nbtrainer.Learner`: inference passes (announced as validations),
validation predictions, TTA, one-image predictions and the inference-only export. ``Learner`` inherits it;
everything here works on the learner's own ``model``, ``data``, ``precision`` and callbacks.

Example::

    probs, targets = learn.get_preds()        # validation set, in order
    probs, targets = learn.tta(4)             # plain + 4 augmented passes, averaged
    label, probs = learn.predict("3.png")
    probs, targets = learn.tta(4, snapshots=3)   # ... averaged over the last 3 cycle ends' weights too

Snapshot ensembles (``snapshots=k``): the probabilities of the last ``k`` weights in ``learn.snapshots``
(the cycle ends of the last fit, kept with ``fit(snapshots=True)`` or ``snapshots=k``; see
:mod:`nbtrainer.train.cycles`), averaged; the
learner's own weights are put back afterwards.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TypeVar

import torch

from .. import distributed
from ..checks import is_int
from ..data.sharding import shard
from .callbacks import CancelBatchException, CancelFitException, CancelValidException, InferencePass
from .metrics import accuracy, nll
from .learner_state import MODEL, restoring

TTA_N = 4  # augmented passes of test-time augmentation by default (fastai's tta n), here once
T = TypeVar("T")
B = TypeVar("B")


class Evaluation:
    """Methods of :class:`~nbtrainer.Learner` that predict rather than train."""

    def inference_pass(self, name: str, total: int, f: Callable[[], T],
                       cancel=(CancelValidException, CancelFitException), reraise: bool = True) -> T | None:
        """``f()``, an inference pass of ``total`` batches, announced as a validation (``before_validate``,
        ``after_validate``; see :mod:`nbtrainer.train.callbacks`) with ``learner.inference`` naming it: the one
        place a pass is announced (a fit's validation, predictions, TTA, precompute). A pass inside another
        one (TTA's predictions, a fit's validation's) announces nothing more. Cancelled (``cancel``, by
        default :class:`CancelValidException` or :class:`CancelFitException` from the Stopper), it raises that
        exception after ``after_validate`` (no partial result), or, with ``reraise=False`` (a fit's own
        validation), returns None."""
        if self.inference is not None:
            return f()
        self.inference, out = InferencePass(name, total), []
        try:
            cancelled = self._with_events(lambda: out.append(f()), "validate", cancel)
        finally:
            self.inference = None
        if cancelled is not None and reraise:
            raise cancelled
        return out[0] if out else None

    def inference_batches(self, batches: Iterable[B], step: Callable[[B], None]) -> int:
        """``step(batch)`` for each of ``batches``, each one a batch of the pass under way, run as the training
        loop runs its batches (:meth:`_with_events`: ``before_batch``, the step, ``after_batch``, with
        ``learner.training`` False). A :class:`CancelBatchException` from ``before_batch`` or the step skips
        the rest of that batch (``after_cancel_batch``, then ``after_batch``): its results are left out.
        Returns how many batches were skipped so."""
        skipped = 0
        for batch in batches:
            def run(batch=batch) -> None:
                step(batch)
                if self.inference is not None:
                    self.inference.done += 1
            skipped += self._with_events(run, "batch", CancelBatchException) is not None
        return skipped

    def valid_batches(self, split: str = "valid") -> int:
        """Batches in one pass over the validation set, or ``split`` (this rank's part of it under
        torch.distributed)."""
        part = shard(len(self.data.split(split)))
        return math.ceil((part.stop - part.start) / (2 * self.data.bs))

    def snapshot_weights(self, snapshots: int) -> list[dict]:
        """The last ``snapshots`` cycle-end weights of :attr:`snapshots` (0: none, the learner's own weights)."""
        if not is_int(snapshots, 0):
            raise ValueError(f"snapshots={snapshots!r}: expected how many cycle-end weights to average, an integer >= 0")
        if snapshots > len(self.snapshots):
            raise ValueError(f"snapshots={snapshots}: this learner keeps {len(self.snapshots)} cycle-end weights "
                             f"(fit with snapshots=True keeps one per cycle); expected at most {len(self.snapshots)}")
        return self.snapshots[len(self.snapshots) - snapshots:] if snapshots else []

    def ensemble(self, predict: Callable[[], tuple[torch.Tensor, object]], snapshots: int) -> tuple[torch.Tensor, object]:
        """``predict()`` returns ``(probs, other)``: the mean of ``probs`` over the last ``snapshots`` cycle-end
        weights (``predict()`` itself for 0), with the last ``other``; the learner's weights are the same
        afterwards, also when ``predict`` raises."""
        weights = self.snapshot_weights(snapshots)
        if not weights:
            return predict()
        with restoring(self, MODEL):
            total = None
            for state in weights:
                self.load_state_dict({"model": state})
                probs, other = predict()
                total = probs if total is None else total + probs
            return total / len(weights), other

    def get_preds(self, augment: bool = False, snapshots: int = 0, split: str = "valid") -> tuple[torch.Tensor, torch.Tensor]:
        """Class probabilities and targets for the validation set (augmented images if ``augment``), in order;
        ``snapshots=k`` averages the last ``k`` cycle-end weights' probabilities (a snapshot ensemble);
        ``split="test"``: the test set's instead. Under torch.distributed each rank predicts its part and every
        rank gets the whole set."""
        return self.ensemble(lambda: self._get_preds(augment, split), snapshots)

    @torch.inference_mode()
    def _get_preds(self, augment: bool, split: str = "valid") -> tuple[torch.Tensor, torch.Tensor]:
        self.model.eval()
        use_cache = self.precompute and not augment and split == "valid"  # the cache holds train and valid
        part = shard(len(self.data.split(split)))
        batches = (self._current_activations().valid_batches(2 * self.data.bs, part) if use_cache
                   else self.data.valid_dl(augment=augment, part=part, split=split))
        probs, targets = [torch.empty(0, self.data.c)], [torch.empty(0, dtype=torch.long)]

        def predict_batch(batch) -> None:
            xb, yb = batch
            with self.precision.autocast():
                xb = xb.to(self.device, non_blocking=True)
                pred = self.model.head(xb) if use_cache else self.on_images(xb)
            pred = pred.float().softmax(dim=1).cpu()
            probs.append(pred)  # (both lists at the end: a batch skipped part-way adds to neither)
            targets.append(yb)

        self.inference_pass("predict", self.valid_batches(split), lambda: self.inference_batches(batches, predict_batch))
        return distributed.gather(torch.cat(probs)), distributed.gather(torch.cat(targets))

    def predict(self, item, snapshots: int = 0) -> tuple[str, torch.Tensor]:
        """``(label, probabilities)`` for one image: a path, a PIL image or an ``H x W x C`` uint8 array,
        through the plain (validation) pipeline (``snapshots``: as in :meth:`get_preds`). A file that is not
        an image raises an error naming it."""
        from .predict import predict_one

        probs, _ = self.ensemble(lambda: (predict_one(self.model, self.data.size, self.data.classes, item,
                                                      self.device, self.on_images)[1], None), snapshots)
        return self.data.classes[int(probs.argmax())], probs

    def validate(self) -> tuple[float, float]:
        """``(loss, accuracy)`` on the validation set, without augmentation."""
        probs, targets = self.get_preds()
        return nll(probs, targets), accuracy(probs, targets)

    def tta(self, n: int = TTA_N, snapshots: int = 0, split: str = "valid") -> tuple[torch.Tensor, torch.Tensor]:
        """Test-time augmentation: the mean of the plain and ``n`` augmented predictions of the validation set
        (``snapshots``: for each of the last ``snapshots`` cycle-end weights, averaged; ``split``: see
        :meth:`get_preds`)."""
        if not is_int(n, 1):
            raise ValueError(f"n={n!r}: expected the number of augmented passes, an integer >= 1")
        def predict() -> tuple[torch.Tensor, torch.Tensor]:
            probs, targets = self._get_preds(False, split)
            for _ in range(n):
                probs = probs + self._get_preds(True, split)[0]
            return probs / (n + 1), targets

        passes = max(1, len(self.snapshot_weights(snapshots))) * (n + 1)
        return self.inference_pass("tta", passes * self.valid_batches(split), lambda: self.ensemble(predict, snapshots))

    def export(self, path):
        """An inference-only ``torch.export`` file with the preprocessing and class names inside; it loads
        and predicts without nbtrainer (see :mod:`nbtrainer.export.torch_program`)."""
        from ..export.torch_program import export

        return distributed.on_main(lambda: export(self, path), f"export to '{path}'")

    def export_onnx(self, path):
        """The classifier as one ONNX file (opset 18) with its preprocessing inside and the class names in its
        metadata; onnxruntime gives ``predict``'s probabilities (see :mod:`nbtrainer.export.onnx_file`).

        Example::

            learn.export_onnx("digits.onnx")
        """
        from ..export.onnx_file import export_onnx

        return distributed.on_main(lambda: export_onnx(self.model, self.data.size, self.data.classes,
                                                       self.config["arch"], path), f"export to '{path}'")

    def export_web(self, folder):
        """The classifier as a web page that runs offline in any browser (``index.html``, the ONNX model,
        onnxruntime-web beside it): pick, drop or film a picture, see the top 3 classes. Serve the folder
        (``python -m http.server`` in it). See :mod:`nbtrainer.export.web_page`.

        Example::

            learn.export_web("digits-page")
        """
        from ..export.web_page import export_web

        return distributed.on_main(lambda: export_web(self.model, self.data.size, self.data.classes,
                                                      self.config["arch"], folder), f"export to '{folder}'")
