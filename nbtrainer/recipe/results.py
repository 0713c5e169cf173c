"""What each kind of checklist step returns: one typed definition per action (``TypedDict``: the results
stay plain dicts, so they go into ``metrics.json``, step checkpoints and widget traits as they are, and
every reader, the report, the CLI table, the script, the widget and the benchmarks, reads the keys
defined here). The checklist adds ``seconds`` to every result; a step that raised holds ``seconds`` and
``traceback`` only; a step stopped before its action returned holds ``cancelled``.

Example::

    result: FitStepResult = checklist.steps[4].result
    print(result["accuracy"], result["kept"])      # e.g. 0.975 cycle 3 of 4
"""
from __future__ import annotations

from typing import TypedDict, Union


class PrecomputeStepResult(TypedDict, total=False):
    size: int          # the image size the cache holds
    features: int      # pooled features per image
    probe_accuracy: float       # the bar to beat: a linear probe on the cached features, on validation
    probe_test_accuracy: float  # ... on the test set, when the data has one
    probe_C: float              # its regularisation, chosen by cross-validation on train
    probe_seconds: float        # (inside this step's seconds)
    probe_error: str            # why there is no probe (e.g. too few images a class)
    seconds: float


class LRFindStepResult(TypedDict, total=False):
    suggestion: float | None  # the sweep's suggestion (None: no descent found)
    lr: float                 # the checklist's LR afterwards (the suggestion, bounded for the whole network)
    stop_reason: str
    curve: dict               # LRFinderResult.to_dict()
    start_lr: float | list[float]
    end_lr: float
    cancelled: bool
    seconds: float


class FitStepResult(TypedDict, total=False):
    lrs: list[float]          # the group LRs the fit used
    epochs: int
    size: int
    augment: bool
    precompute: bool
    valid_loss: float | None  # of the kept weights
    accuracy: float | None
    cancelled: bool
    kept: str                 # "cycle 2 of 3", "the start: this fit did not improve on it", ...
    cycle_ends: list[dict]    # nbtrainer.train.cycles.CycleEnd as dicts
    stop_reason: str
    test_accuracy: float      # of the kept weights on the test set, when the data has one (never chosen on)
    seconds: float


class UnfreezeStepResult(TypedDict, total=False):
    trainable_groups: int
    seconds: float


class DifferentialStepResult(TypedDict, total=False):
    ratio: list[float]
    lrs: list[float]
    seconds: float


class TTAStepResult(TypedDict, total=False):
    accuracy: float           # of the kept choice (plain, TTA or a snapshot ensemble)
    plain_accuracy: float
    tta_accuracy: float
    scores: dict[str, float]  # every choice measured
    chosen: str
    kept: str
    size: int
    snapshots: int
    tta_n: int                # TTA passes of the kept choice (0: none)
    ensemble: int             # snapshots averaged by the kept choice (0: none)
    test_accuracy: float      # of the kept choice on the test set, when the data has one (never chosen on)
    test_plain_accuracy: float  # plain predictions on the test set
    seconds: float


StepResult = Union[PrecomputeStepResult, LRFindStepResult, FitStepResult, UnfreezeStepResult, DifferentialStepResult, TTAStepResult]
