"""nbtrainer: the fast.ai "world-class image classifier" recipe as a headless library, a CLI and a widget.

Example::

    import nbtrainer as nbt
    data = nbt.ImageData.demo(size=64)
    learn = nbt.Learner(data)
    learn.fit(1e-2, n_cycle=2)
"""
from importlib import metadata

__version__ = metadata.version("nbtrainer")  # one definition: pyproject.toml

from . import datasets
from .data.cleaner import Cleaner
from .data.image_data import ImageData
from .data.sources import BadImageError
from .data.transforms import Augment
from .recipe.checklist import Checklist, Step
from .results.interpret import Interpretation
from .train.callbacks import (EVENTS, Callback, CancelBatchException, CancelEpochException, CancelFitException,
                              CancelTrainException, CancelValidException, Recorder, Stopper)
from .train.guard import DivergenceError
from .train.learner import Learner
from .train.lr_find import LRFinderResult, lr_find
from .train.precompute import ActivationCache
from .train.predict import Predictor
from .train.progress import Progress, ProgressInfo, TqdmProgress
from .train.schedule import cycle_starts, preview_lrs, sgdr_epochs, sgdr_scheduler

__all__ = [
    "EVENTS", "ActivationCache", "datasets", "Augment", "BadImageError", "Callback", "CancelBatchException", "CancelEpochException",
    "CancelFitException", "CancelTrainException", "CancelValidException", "Checklist", "Cleaner", "DivergenceError", "Interpretation", "ImageData", "LRFinderResult", "Learner", "Predictor", "Progress", "ProgressInfo", "Stopper", "Recorder", "Step", "TqdmProgress", "cycle_starts",
    "lr_find", "preview_lrs", "sgdr_epochs", "sgdr_scheduler", "__version__",
]
