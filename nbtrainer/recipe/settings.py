"""The course checklist's steps (``course-notes.txt``) and their settings, in one place: ``Checklist.recipe``
and ``nbtrainer run`` both take their defaults from :class:`RecipeSettings`.

Example::

    steps = recipe_steps(RecipeSettings(unfrozen_cycles=3), size=64)
    [s.name for s in steps]     # ['Precompute activations', 'Find the learning rate', ...]
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from ..checks import is_int
from ..data.sizes import BATCH_SIZE, plan_batch_size, plan_sizes
from ..train.cycles import STOP_ON
from ..train.evaluation import TTA_N
from ..train.lr_find import MIN_NUM_ITER, NUM_ITER
from .results import StepResult


@dataclass
class Step:
    """One step of the recipe: what to do (``action`` with ``params``), why, and what happened."""

    name: str
    action: str
    params: dict = field(default_factory=dict)
    why: str = ""
    status: str = "pending"
    result: StepResult = field(default_factory=dict)  # the typed result of its action (.results)
    error: str = ""


@dataclass(frozen=True)
class RecipeSettings:
    """What the recipe does at each step; every field is also an option of ``nbtrainer run``.

    Args:
        lr: the last group's LR until an lr_find suggests one.
        ratio: each layer group's LR is this many times lower than the next one's.
        head_cycles: epochs of the head on precomputed activations.
        aug_cycles: cycles of 1 epoch of the head with augmentation.
        unfrozen_cycles: at most this many SGDR cycles (1, 2, 4, ... epochs) of the whole network; the
            step stops earlier once it over-fits (``patience``).
        final_cycles: at most this many cycles (cycle_mult=2) at the final size, when there is one.
        patience: cycle ends in a row without a lower validation loss before an unfrozen step stops.
        stop_on: what ``patience`` watches: ``"loss"`` (a new low) or ``"accuracy"`` (a new high).
        warmup: the fraction of an unfrozen step's first cycle held at lr/100 (fastai 0.7's CosAnneal).
        tta_n: augmented passes of test-time augmentation.
        snapshots: the last step averages the last this many cycle ends' weights (a snapshot ensemble;
            1: the kept weights alone).
        lr_find_iters, unfrozen_lr_find_iters: iterations of the first and of the second LR range test.
        budget: minutes the whole run may take (None: no limit). With a budget, "until over-fitting" means
            until: the whole network trains on for up to :data:`BUDGET_CYCLES` cycles while it improves
            (``patience``), and no cycle starts that would end past the budget.
    """

    lr: float = 1e-2
    ratio: float = 3.0
    head_cycles: int = 2
    aug_cycles: int = 2
    unfrozen_cycles: int = 4
    final_cycles: int = 2
    patience: int = 2  # +1.1 over 1 on two sets (seeds 0-2, overlapping strips); seeds 3-5: benchmarks/README.md
    stop_on: str = "loss"
    warmup: float = 0.05
    tta_n: int = TTA_N
    snapshots: int = 1
    lr_find_iters: int = NUM_ITER
    unfrozen_lr_find_iters: int = 30
    budget: float | None = None

    def __post_init__(self):
        """Every field checked once, before any work: a :class:`SettingError` naming the first bad one."""
        for name, (ok, expected) in CHECKS.items():
            value = getattr(self, name)
            if not ok(value, self):
                raise SettingError(name, value, expected)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


class SettingError(ValueError):
    """A recipe setting out of range; ``name`` is the :class:`RecipeSettings` field (the CLI names its option)."""

    def __init__(self, name: str, value, expected: str):
        self.name, self.value, self.expected = name, value, expected
        super().__init__(f"{name}={value!r}: expected {expected}")


def _number(low: float, high: float = math.inf, low_open: bool = False, high_open: bool = False):
    def ok(v, _settings=None) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    return ok


def _integer(low: int):
    return lambda v, _settings=None: is_int(v, low)


# each field: (check(value, settings), what was expected); the snapshots check also reads the cycle counts
CHECKS: dict[str, tuple] = {
    "lr": (_number(0, 10, low_open=True), "a learning rate above 0 and at most 10"),
    "ratio": (_number(1, 100), "how many times lower each group's LR is than the next one's, a number in 1..100"),
    "head_cycles": (_integer(1), "an integer >= 1 (epochs of the head on the cache)"),
    "aug_cycles": (_integer(1), "an integer >= 1 (cycles of the head with augmentation)"),
    "unfrozen_cycles": (_integer(1), "an integer >= 1 (SGDR cycles of the whole network)"),
    "final_cycles": (_integer(1), "an integer >= 1 (cycles at the final size)"),
    "patience": (_integer(1), "an integer >= 1 (cycle ends without a new low before stopping)"),
    "stop_on": (lambda v, _s=None: v in STOP_ON, f"one of {', '.join(STOP_ON)} (what the patience watches)"),
    "warmup": (_number(0, 1, high_open=True), "the fraction of the first cycle held at lr/100, in [0, 1)"),
    "tta_n": (_integer(1), "an integer >= 1 (augmented passes of test-time augmentation)"),
    "snapshots": (lambda v, s: is_int(v, 1) and v <= max(s.unfrozen_cycles, s.final_cycles),
                  "an integer from 1 to the cycles of the last fit (unfrozen_cycles or final_cycles): the "
                  "ensemble averages that many cycle ends"),
    "lr_find_iters": (_integer(MIN_NUM_ITER), f"an integer >= {MIN_NUM_ITER} (a curve needs points)"),
    "unfrozen_lr_find_iters": (_integer(MIN_NUM_ITER), f"an integer >= {MIN_NUM_ITER} (a curve needs points)"),
    "budget": (lambda v, _s=None: v is None or _number(0, low_open=True)(v), "minutes the run may take, a number > 0"),
}
BUDGET_CYCLES = 6  # with a budget, the unfrozen fits' most cycles: 1 + 2 + ... + 32 = 63 epochs


def check_sizes(size, final_size, smallest: int, bs=None) -> None:
    """``Checklist.recipe``'s ``size`` (None, "auto" or pixels) and ``final_size`` (None, 0 for no resize, or
    pixels), each at least ``smallest`` pixels, and ``bs`` (None, "auto" or >= 1); a ValueError naming the
    argument otherwise."""
    if not (bs is None or bs == "auto" or is_int(bs, 1)):
        raise ValueError(f"Checklist.recipe: bs={bs!r}: expected None, 'auto' or a batch size >= 1")
    for name, value in (("size", size), ("final_size", final_size)):
        zero_ok = name == "final_size"  # 0: no resize
        if not (value is None or (value == "auto" and not zero_ok) or (
                is_int(value, 0) and (value >= smallest or (zero_ok and value == 0)))):
            other = "0 (no resize)" if zero_ok else "'auto'"
            raise ValueError(f"Checklist.recipe: {name}={value!r}: expected None, {other} or a size >= {smallest}")


@dataclass(frozen=True)
class DataPlan:
    """The sizes and batch size a recipe trains with, and why (:func:`plan_data`)."""

    size: int
    final_size: int | None
    bs: int | None  # None: the data's own
    why: str


def plan_data(data, size, final_size, bs, world_size: int = 1) -> DataPlan:
    """``Checklist.recipe``'s sizes and batch size for ``data``: ``"auto"`` from the images
    (:func:`nbtrainer.data.sizes.plan_sizes`; the batch size :data:`~nbtrainer.data.sizes.BATCH_SIZE`, smaller
    for a small folder: :func:`~nbtrainer.data.sizes.plan_batch_size`), None the data's own, a number as given."""
    why = "the size set on the data" if size is None else "as given"
    if size == "auto":
        auto = plan_sizes(data)
        size, why = auto.size, auto.why
        final_size = auto.final_size if final_size is None else final_size
    if bs == "auto":  # from the default, not the data's: a batch planned for an earlier, smaller folder
        bs, batch_why = plan_batch_size(len(data.train), BATCH_SIZE, world_size)  # never sticks
        why += f"; {batch_why}" if batch_why else ""
    return DataPlan(size or data.size, final_size or None, bs, why)


def plan_text(s: RecipeSettings, size: int, final_size: int | None, why: str) -> str:
    """One line for the user before training: the sizes, why, and the epochs at most."""
    sizes = f"{size} px" + (f", then {final_size} px" if final_size else "")
    unfrozen = " + ".join(str(2 ** k) for k in range(s.unfrozen_cycles))
    final = (" + ".join(str(2 ** k) for k in range(s.final_cycles)) + f" at {final_size} px") if final_size else ""
    if s.budget:
        then = f" (then at {final_size} px)" if final_size else ""
        return (f"{sizes} ({why}); epochs: the head {s.head_cycles} on the cache + {s.aug_cycles} augmented, the "
                f"whole network in cycles of 1, 2, 4... epochs while it improves{then}, up to {BUDGET_CYCLES} "
                f"cycles, and no cycle that would end past the budget of {s.budget:g} min")
    return (f"{sizes} ({why}); epochs: the head {s.head_cycles} on the cache + {s.aug_cycles} augmented, the whole "
            f"network at most {unfrozen}{', then ' + final if final else ''}, stopping at over-fitting")


def test_note(data) -> str:
    """What the final figures are measured on: the test set, or a warning that the validation figure, chosen on,
    is optimistic."""
    if data.test is not None:
        return f"; judged on {len(data.test)} test images, never used to choose"
    return ("; no test set: the validation accuracy is optimistic, the recipe chooses on it (hold one out with "
            "test_pct / --test-pct, or a test/ folder beside train/)")


def recipe_steps(s: RecipeSettings, size: int, final_size: int | None = None) -> list[Step]:
    """The checklist in the course's order: precompute; lr_find; the head on the cache; the head with
    augmentation; unfreeze; differential LRs; lr_find again; the whole network with cycle_mult=2 until
    over-fitting; the resize to ``final_size`` (when given); test-time augmentation. Every fit keeps the
    best of its start and its cycle ends (``keep_best``)."""
    unfrozen = {"differential": True, "augment": True, "cycle_len": 1, "cycle_mult": 2, "keep_best": True,
                "patience": s.patience, "warmup": s.warmup, "stop_on": s.stop_on,
                "snapshots": s.snapshots if s.snapshots > 1 else False,  # the TTA step's ensemble, no more
                **({"budget": True} if s.budget else {})}  # (the fit action reads the checklist's time left)
    most = (lambda cycles: max(cycles, BUDGET_CYCLES)) if s.budget else (lambda cycles: cycles)
    steps = [
        Step("Precompute activations", "precompute", {"size": size, "probe": True},
             "Run the frozen pretrained body once and keep its outputs: the head then trains in milliseconds. A "
             "linear probe on them (seconds) is the bar to beat."),
        Step("Find the learning rate", "lr_find", {"num_iter": s.lr_find_iters},
             "Raise the LR each batch; pick the highest LR where the loss is still clearly falling."),
        Step("Train the head on precomputed activations", "fit",
             {"precompute": True, "n_cycle": s.head_cycles, "keep_best": True},
             "Only the new head starts from scratch; the body already sees edges and shapes."),
        Step("Train the head with augmentation", "fit",
             {"precompute": False, "augment": True, "n_cycle": s.aug_cycles, "cycle_len": 1, "keep_best": True},
             "Augmented images are new views of the same examples: less over-fitting."),
        Step("Unfreeze all layers", "unfreeze", {}, "Now the body can adapt to these images too."),
        Step("Set differential learning rates", "differential", {"ratio": s.ratio},
             f"Each layer group gets a {s.ratio:g}x lower LR than the next: early layers hold general features."),
        Step("Find the learning rate again", "lr_find", {"differential": True, "num_iter": s.unfrozen_lr_find_iters},
             "The whole network trains now, so the best LR has changed; the sweep keeps the ratios and runs "
             "from 1/100 to 100x the head's LR. Its suggestion is kept within a factor of 2 of half the "
             "head's LR (a trained head makes this curve noisy)."),
        Step("Train everything with cycle_mult=2 until over-fitting", "fit", {**unfrozen, "n_cycle": most(s.unfrozen_cycles)},
             f"SGDR cycles of 1, 2, 4... epochs, judged at each cycle end; stops once the validation "
             f"{s.stop_on} {'rises' if s.stop_on == 'loss' else 'stops rising'} ({s.patience} cycle "
             f"end{'s' if s.patience > 1 else ''} without a new {'low' if s.stop_on == 'loss' else 'high'}) and "
             f"keeps the best weights."),
    ]
    if final_size:
        steps.append(Step(f"Progressive resize to {final_size}px", "fit",
                          {**unfrozen, "size": final_size, "n_cycle": most(s.final_cycles)},
                          "Larger images add detail; kept only if they beat the smaller size."))
    ensemble = (f" and over the last {s.snapshots} cycle ends' weights (a snapshot ensemble)"
                if s.snapshots > 1 else "")
    steps.append(Step("Test-time augmentation", "tta", {"n": s.tta_n, "snapshots": s.snapshots},
                      f"Average the predictions of several augmented views of each image{ensemble}; "
                      f"kept only if it beats the plain predictions on validation."))
    return steps
