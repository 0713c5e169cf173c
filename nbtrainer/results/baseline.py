"""The bars to clear, on the same train/valid split: a linear probe on the frozen body's features (every run)
and an RBF-kernel SVC on raw pixels (images in memory), both from scikit-learn.

Example::

    data = ImageData.demo()
    svc_baseline(data)              # about 0.99 on the digits
    probe_baseline(learn).accuracy  # after precompute: about 0.95 on the digits, in seconds
"""
from __future__ import annotations

import inspect
import time
import warnings
from dataclasses import dataclass

import numpy as np

from ..data.image_data import ImageData
from ..data.sources import ArraySource
from ..train.precompute import split_features


SVC_MAX_TRAIN = 5000  # an RBF SVC's fit grows with the square of the images: CIFAR-10's 50,000 would take hours


def svc_baseline(data: ImageData) -> float | None:
    """Validation accuracy of ``sklearn.svm.SVC`` on the raw pixels (scaled to [0, 1]) of in-memory images
    at their stored size; ``None`` for images on disk (they have no common size to compare pixels at) and
    for more than :data:`SVC_MAX_TRAIN` training images."""
    if not (isinstance(data.train.source, ArraySource) and isinstance(data.valid.source, ArraySource)):
        return None
    if len(data.train) > SVC_MAX_TRAIN:
        return None
    from sklearn.svm import SVC

    def pixels(split):
        return split.source.images[split.indices].flatten(1).numpy().astype(np.float64) / 255.0

    # gamma of scikit-learn's digits example (0.001 on pixels 0..16) on pixels scaled to [0, 1]: 0.001 * 16**2;
    # stronger there than gamma="scale" (99.4% vs 98.3% on the seed-0 split)
    model = SVC(gamma=0.256).fit(pixels(data.train), data.train.targets().numpy())
    return float((model.predict(pixels(data.valid)) == data.valid.targets().numpy()).mean())


@dataclass(frozen=True)
class ProbeResult:
    """A linear probe's validation accuracy, its test accuracy (None without a test set), its regularisation
    (chosen by cross-validation) and its time."""

    accuracy: float
    C: float
    seconds: float
    test_accuracy: float | None = None
    test_correct: np.ndarray | None = None  # per test image, in order: predicted right (the benchmarks pair them)


def probe_baseline(learn, cv: int = 3, Cs: int = 6) -> ProbeResult:
    """The linear probe, the bar fine-tuning has to beat: ``LogisticRegressionCV`` (``Cs`` strengths, ``cv``-fold
    cross-validation on the training images only) on the frozen body's pooled features, standardized, of the
    learner's training images (its activation cache: precompute once, nothing decoded again), scored on the
    validation images, and on the test images when the data has them (their features computed here)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    acts = learn.cache.get(learn)
    folds = max(2, min(cv, int(np.bincount(acts.train_y.numpy()).min())))  # (a class of 1 image: 2 folds)
    known = inspect.signature(LogisticRegressionCV).parameters  # the newer scikit-learns' settings, said
    extra = {k: v for k, v in (("l1_ratios", (0.0,)), ("use_legacy_attributes", False)) if k in known}
    model = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=Cs, cv=folds, max_iter=300,
                                                                 scoring="accuracy", **extra))
    with warnings.catch_warnings():  # a C that has not converged in 300 iterations only scores lower in the CV
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(acts.train_x.numpy(), acts.train_y.numpy())
    accuracy = float((model.predict(acts.valid_x.numpy()) == acts.valid_y.numpy()).mean())
    correct = None
    if learn.data.test is not None:
        test_x, test_y = split_features(learn, "test")
        correct = model.predict(test_x.numpy()) == test_y.numpy()
    return ProbeResult(accuracy, float(np.ravel(model[-1].C_)[0]), time.perf_counter() - start,
                       None if correct is None else float(correct.mean()), correct)
