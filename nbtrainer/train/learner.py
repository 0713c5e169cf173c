"""``Learner``: a model, its data and optimizer; precompute, lr_find, fit with SGDR and differential LRs,
validate, predict, TTA.

Example::

    data = ImageData.demo(size=64)
    learn = Learner(data)                    # EfficientNet-Lite0, real ImageNet weights, body frozen
    learn.precompute = True                  # the frozen body runs once; the head trains on its outputs
    lr = learn.lr_find().suggestion          # LR range test; the learner is restored exactly
    learn.fit(lr, n_cycle=2)                 # the head, 2 cycles of 1 epoch
    learn.precompute = False
    learn.augment = True
    learn.fit(lr, n_cycle=2)
    learn.unfreeze()
    lr = learn.lr_find(start_lr=[1e-7 / 9, 1e-7 / 3, 1e-7]).suggestion
    learn.fit([lr / 9, lr / 3, lr], n_cycle=3, cycle_mult=2)   # 1 + 2 + 4 epochs
    probs, targets = learn.tta()
    learn.save("digits.pt")
"""
from __future__ import annotations

import math
import time
from collections.abc import Collection, Sequence
from pathlib import Path

import torch
from torch import nn

from .. import distributed
from ..checks import is_int
from ..data.image_data import ImageData
from ..data.sizes import MULTIPLE
from ..model.classifier import build_model, set_frozen
from . import checkpoint, learner_state
from .callbacks import Callback, EventLoop, FitState, InferencePass, Recorder
from .cycles import CycleEnds, FitResult
from .evaluation import Evaluation
from .guard import DivergenceGuard
from .loop import FitLoop
from .lr_find import END_LR, NUM_ITER, START_LR, LRFinderResult, lr_find
from .metrics import cross_entropy
from .precision import Precision
from .precompute import ActivationCache, Activations
from .progress import NotebookProgress, TqdmProgress, in_notebook
from .schedule import SGDRSchedule, cycle_starts, sgdr_epochs

OPTIMIZERS = ("adamw", "sgd")
MIN_MODEL_SIZE = MULTIPLE  # every supported body downsamples by this factor: a smaller image has no pixel left


def progress_bar(progress: bool | None) -> list[Callback]:
    """The Learner's own bar for ``progress`` (see :class:`Learner`)."""
    if progress:
        return [TqdmProgress()]
    return [NotebookProgress()] if progress is None and in_notebook() else []


class Learner(FitLoop, Evaluation, EventLoop):
    """Trains a pretrained-body classifier on :class:`ImageData` with the fast.ai course recipe.

    Args:
        data: the images.
        arch: ``"efficientnet_lite0"`` (offline weights) or a torchvision name such as ``"resnet34"``.
        pretrained: load ImageNet weights into the body. Default: True.
        n_groups: layer groups (``fit`` takes one LR or ``n_groups`` LRs). Default: 3.
        opt: ``"adamw"`` (fastai's default since v1) or ``"sgd"`` (momentum 0.9, as in the course).
            Default: ``"adamw"``, measured better on the quality benchmark (``benchmarks/README.md``).
        wd: weight decay. Default: 1e-4.
        bn_freeze: keep every body BatchNorm in eval mode even when unfrozen. Default: True (why: see
            :mod:`nbtrainer.model.classifier`).
        seed: seeds the new head's weights and the random order of the loop. Default: 0.
        cache: where precomputed activations are kept. Default: a new :class:`ActivationCache`.
        amp: ``"bf16"`` or ``"fp16"`` mixed precision (:mod:`nbtrainer.train.precision`). Default: float32.
        channels_last: the model and every batch (training, evaluation, precompute) in the channels_last
            memory format. Default: True: the same results up to float rounding, and faster convolutions
            (an unfrozen EfficientNet-Lite0 epoch at 64 px on a 2-core AVX-512 CPU: 6.4 s against 9.8 s;
            ``benchmarks/README.md``, "The CPU's fast paths").
        progress: progress bars (tqdm). Default None: in a Jupyter kernel only, for work run on its main
            thread (:class:`~nbtrainer.train.progress.NotebookProgress`); True: always; False: never.
    The body starts frozen (only the head trains), as in the course.
    """

    def __init__(self, data: ImageData, arch: str = "efficientnet_lite0", pretrained: bool = True,
                 n_groups: int = 3, opt: str = "adamw", momentum: float = 0.9, wd: float = 1e-4,
                 bn_freeze: bool = True, seed: int = 0, device: str | None = None,
                 callbacks: Sequence[Callback] = (), hidden: int = 512, ps: tuple[float, float] = (0.25, 0.5),
                 cache: ActivationCache | None = None, amp: str | None = None, channels_last: bool = True,
                 progress: bool | None = None):
        if opt not in OPTIMIZERS:
            raise ValueError(f"opt={opt!r}: expected one of {OPTIMIZERS}")
        self.config = {"arch": arch, "pretrained": pretrained, "n_groups": n_groups, "opt": opt,
                       "momentum": momentum, "wd": wd, "bn_freeze": bn_freeze, "seed": seed,
                       "hidden": hidden, "ps": list(ps), "amp": amp, "channels_last": channels_last}
        self.data, self.device = data, distributed.rank_device(distributed.resolve_device(device))
        self.precision = Precision(amp, self.device)
        torch.manual_seed(seed)
        self.model = build_model(arch, data.c, pretrained, hidden, tuple(ps)).to(self.device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        distributed.seed_rank(seed)  # the same weights on every rank; from here on, draws of each rank's own
        self.layer_groups = self.model.layer_groups(n_groups)
        self.opt = self._make_optimizer()
        self.loss_fn = cross_entropy  # the one loss (train.metrics), here on logits
        self.recorder = Recorder()
        self.callbacks: list[Callback] = []
        for cb in (self.recorder, *progress_bar(progress), *callbacks):
            self.add_callback(cb)
        self.state = FitState()
        self.cache = cache if cache is not None else ActivationCache()
        self._activations: Activations | None = None
        self._pinned: Activations | None = None  # checked once at the start of a fit, kept for its epochs
        self.inference: InferencePass | None = None  # the inference pass under way (progress bars read it)
        self.training = False  # the current batch is a training batch (not one of an inference pass)
        self._parallel: nn.Module | None = None  # DistributedDataParallel during a fit or sweep with several ranks
        self.snapshots: list[dict] = []  # cycle-end weights (host copies) of the last fit with snapshots=True
        self.n_frozen = 0
        self.freeze()

    # ------------------------------------------------------------------ setup
    def _make_optimizer(self) -> torch.optim.Optimizer:
        groups = [{"params": list(g.parameters()), "lr": 1e-3} for g in self.layer_groups]
        c = self.config
        if c["opt"] == "sgd":
            return torch.optim.SGD(groups, lr=1e-3, momentum=c["momentum"], weight_decay=c["wd"])
        return torch.optim.AdamW(groups, lr=1e-3, weight_decay=c["wd"])

    @property
    def group_names(self) -> list[str]:
        n = len(self.layer_groups)
        return [f"body {i + 1}/{n - 1}" for i in range(n - 1)] + ["head"]

    # ------------------------------------------------------------------ freezing, size, augmentation
    def freeze_to(self, n: int) -> None:
        """Freeze the first ``n`` layer groups; train the others. Precompute is turned off unless the
        whole body stays frozen."""
        set_frozen(self.layer_groups, n)
        self.n_frozen = n
        if n < len(self.layer_groups) - 1:
            self._activations = None

    def freeze(self) -> None:
        """Train the head only."""
        self.freeze_to(len(self.layer_groups) - 1)

    def unfreeze(self) -> None:
        """Train every layer group."""
        self.freeze_to(0)

    def set_size(self, size: int) -> None:
        """Train and predict at ``size`` pixels from now on (progressive resizing; weights are kept)."""
        if not is_int(size, MIN_MODEL_SIZE):
            raise ValueError(f"size={size!r}: expected an integer >= {MIN_MODEL_SIZE} "
                             f"({self.config['arch']} downsamples by {MULTIPLE})")
        self.data.set_size(size)

    @property
    def precompute(self) -> bool:
        """Train and validate the head on cached body activations (:mod:`nbtrainer.train.precompute`).

        Setting it to True needs the body frozen; it computes the cache (or finds it) at once, so an
        error (e.g. an unwritable cache folder) shows here and leaves the learner unchanged.
        ``fit`` refuses augmentation while it is on (the cache holds plain images).
        """
        return self._activations is not None

    @precompute.setter
    def precompute(self, on: bool) -> None:
        if on and self.n_frozen < len(self.layer_groups) - 1:
            raise ValueError("precompute=True needs the body frozen (the cache holds the frozen body's output); "
                             "call learn.freeze() first")
        self._activations = self.cache.get(self) if on else None

    def _current_activations(self) -> Activations:
        """The cache for the current size/data/weights (recomputed if any of them changed)."""
        if self._pinned is None:  # outside a fit: check the key (a hash of ~15 ms) every time
            self._activations = self.cache.get(self)
        return self._activations

    @property
    def augment(self) -> bool:
        """Augment training images (on for the later stages of the recipe)."""
        return self.data.augment

    @augment.setter
    def augment(self, on: bool) -> None:
        self.data.augment = bool(on)

    # ------------------------------------------------------------------ fitting
    def group_lrs(self, lrs: float | Sequence[float]) -> list[float]:
        """One LR per layer group from a float or a sequence of ``n_groups`` positive LRs."""
        n = len(self.layer_groups)
        if isinstance(lrs, (int, float)) and not isinstance(lrs, bool):
            values = [lrs] * n
        else:  # a list, tuple, numpy array or tensor
            values = lrs.tolist() if hasattr(lrs, "tolist") else list(lrs)
        if len(values) != n:
            raise ValueError(f"lrs={list(values)!r}: expected one LR or {n} LRs, one per layer group "
                             f"({', '.join(self.group_names)}); got {len(values)}")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"lrs={list(values)!r}: every learning rate must be a finite number > 0")
        return [float(v) for v in values]

    def fit(self, lrs: float | Sequence[float], n_cycle: int = 1, cycle_len: int = 1, cycle_mult: int = 1,
            callbacks: Sequence[Callback] = (), keep_best: bool = False, patience: int | None = None,
            snapshots: bool | int = False, warmup: float = 0.0, guard: bool = True,
            budget: float | None = None, stop_on: str = "loss") -> FitResult:
        """Train ``n_cycle`` SGDR cycles; cycle ``k`` lasts ``cycle_len * cycle_mult**k`` epochs.

        Args:
            lrs: one LR for every group, or ``[lr1, ..., lrn]`` for the ``n`` layer groups, earliest first.
            keep_best: validate the start too and end with the best of the start and the cycle ends.
            patience: stop after this many cycle ends in a row without a lower validation loss ("until
                over-fitting"; ``n_cycle`` is then the most cycles). Default: None (every cycle runs).
            snapshots: keep each cycle end's weights in :attr:`snapshots` (a snapshot ensemble); an integer
                ``k``: only the last ``k``. Default: False (none kept; the last fit's are dropped).
            warmup: hold every group at 1/100 of its LR for this fraction of the first cycle (fastai 0.7's
                ``CosAnneal``); see :func:`nbtrainer.train.schedule.sgdr_scheduler`. Default: 0.
            guard: on a loss that is not finite, put back the weights of the epoch's start and raise
                :class:`~nbtrainer.train.guard.DivergenceError` (:mod:`nbtrainer.train.guard`). Default: True.
            stop_on: what ``patience`` watches: ``"loss"`` (a new low of the validation loss) or
                ``"accuracy"`` (a new high of the validation accuracy). Default: "loss".
            budget: seconds this fit may take: at a cycle end it stops when the next cycle, at the pace of the
                epochs so far, would end later (``n_cycle`` is then the most cycles). Default: None (no limit).
        Returns: a :class:`~nbtrainer.train.cycles.FitResult` (cycle ends, which weights were kept, why it stopped).
        See :mod:`nbtrainer.train.cycles`. The schedule, the guard and the cycle ends are callbacks of
        :meth:`run_fit`, the bare loop.
        """
        n_epochs = sgdr_epochs(n_cycle, cycle_len, cycle_mult)
        starts = cycle_starts(n_cycle, cycle_len, cycle_mult)
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                                   or not math.isfinite(budget) or budget <= 0):
            raise ValueError(f"budget={budget!r}: expected None or the seconds this fit may take, a number > 0")
        deadline = None if budget is None else time.monotonic() + budget
        ends = CycleEnds([*starts[1:], n_epochs], keep_best, patience, snapshots, deadline, stop_on)  # checks them
        schedule = SGDRSchedule(cycle_len, cycle_mult, warmup)  # checks warmup
        self.run_fit(lrs, n_epochs, [schedule, *([DivergenceGuard()] if guard else []), *callbacks, ends], starts)
        return ends.result

    def on_images(self, xb: torch.Tensor, module: nn.Module | None = None) -> torch.Tensor:
        """``module`` (default: the whole model) on a batch of images on the learner's device, with its
        precision and memory format: the one inference path of predictions, ``predict`` and precompute."""
        with self.precision.autocast():
            return (module or self.model)(self._memory_format(xb))

    # ------------------------------------------------------------------ LR range test
    def lr_find(self, start_lr: float | Sequence[float] = START_LR, end_lr: float = END_LR,
                num_iter: int = NUM_ITER, callbacks: Sequence[Callback] = (), **kwargs) -> LRFinderResult:
        """The LR range test; the learner is restored exactly afterwards. See :func:`nbtrainer.train.lr_find.lr_find`.

        ``callbacks`` are added for this sweep only (e.g. a live plot's feed)."""
        return lr_find(self, start_lr, end_lr, num_iter, callbacks=callbacks, **kwargs)

    # ------------------------------------------------------------------ state, checkpoints
    def state_dict(self, parts: Collection[str] = learner_state.CHECKPOINT) -> dict:
        """The learner's state, ``parts`` of :data:`nbtrainer.train.learner_state.PARTS` (live references, as
        ``nn.Module.state_dict``'s). Example: ``learn.state_dict(nbtrainer.train.learner_state.WEIGHTS)``."""
        return learner_state.state_dict(self, parts)

    def load_state_dict(self, saved: dict) -> None:
        """Put back the parts present in ``saved`` (from :meth:`state_dict`), in place."""
        learner_state.load_state_dict(self, saved)

    def save(self, path) -> None:
        """Write one checkpoint dict (atomically): model, optimizer, groups, history, config, classes.
        Under torch.distributed only rank 0 writes (the ranks hold the same weights)."""
        if distributed.current().is_main:
            checkpoint.save(self, path)

    def save_model(self, path) -> Path:
        """Write the weights-only model file (safetensors + config; safe to share and to load from anyone:
        :mod:`nbtrainer.train.model_file`); :class:`~nbtrainer.train.predict.Predictor` loads it. Under
        torch.distributed only rank 0 writes (as :meth:`save`: no collective, so rank 0 may call it alone)."""
        from .model_file import save_model

        if distributed.current().is_main:
            save_model(self, path)
        return Path(path)

    def load(self, path) -> None:
        """Load a checkpoint written by :meth:`save` for the same architecture and classes."""
        checkpoint.load(self, path)
