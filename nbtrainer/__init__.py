"""nbtrainer: the fast.ai "world-class image classifier" recipe as a headless library, a CLI and a widget.

Example::

    import nbtrainer as nbt
    data = nbt.ImageData.demo(size=64)
    learn = nbt.Learner(data)
    learn.fit(1e-2, n_cycle=2)
"""
from importlib import metadata

__version__ = metadata.version("nbtrainer")  # one definition: pyproject.toml

from .callbacks import (EVENTS, Callback, CancelBatchException, CancelEpochException, CancelFitException,
                        CancelTrainException, CancelValidException, Recorder, Stopper)
from .checklist import Checklist, Step
from .data import ImageData
from .guard import DivergenceError
from .interpret import Interpretation
from .learner import Learner
from .lr_find import LRFinderResult, lr_find
from .precompute import ActivationCache
from .predict import Predictor
from .progress import Progress, ProgressInfo, TqdmProgress
from .schedule import cycle_starts, preview_lrs, sgdr_epochs, sgdr_scheduler
from .sources import BadImageError
from .transforms import Augment

__all__ = [
    "EVENTS", "ActivationCache", "Augment", "BadImageError", "Callback", "CancelBatchException", "CancelEpochException",
    "CancelFitException", "CancelTrainException", "CancelValidException", "Checklist", "DivergenceError", "Interpretation", "ImageData", "LRFinderResult", "Learner", "Predictor", "Progress", "ProgressInfo", "Stopper", "Recorder", "Step", "TqdmProgress", "cycle_starts",
    "lr_find", "preview_lrs", "sgdr_epochs", "sgdr_scheduler", "__version__",
]
