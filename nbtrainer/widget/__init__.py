"""nbtrainer's notebook widget (ipywidgets 8 + bqplot): the course checklist as an app.

``Trainer(learn)`` shows everything; the pieces work alone too: ``LRPlot`` (a live, clickable LR-finder
curve for any Learner), ``RatioSliders``, ``TrainingPlot``, ``ChecklistPanel``. The logic lives in
``TrainerModel`` (traitlets, no widgets) over the headless engine.

Example::

    import nbtrainer as nbt
    from nbtrainer.widget import Trainer
    Trainer(nbt.Learner(nbt.ImageData.demo(size=64)))
"""
from .app import Trainer
from .checklist_panel import ChecklistPanel
from .lr_plot import LRPlot
from .model import TrainerModel
from .ratio_sliders import RatioSliders
from .training_plot import TrainingPlot
from .worker import Worker

__all__ = ["ChecklistPanel", "LRPlot", "RatioSliders", "Trainer", "TrainerModel", "TrainingPlot", "Worker"]
