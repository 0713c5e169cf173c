"""The course's checklist as data: ordered steps, each with parameters, a status and a result.

Each step names an *action* (a function in :data:`ACTIONS`) and its parameters; running a step calls
the action on the learner and records the status (pending/running/done/failed/stopped), the seconds
it took and the action's result (LRs used, valid loss, accuracy, the LR-finder curve...). Views (the
CLI, the notebook widget) render steps; they never hold training logic.

Learning rates: a fit step's ``lr`` parameter of ``None`` means "the checklist's current LR"
(:attr:`Checklist.lr`): the LR the user picked (:meth:`Checklist.pick_lr`, e.g. a click on the
LR-finder curve) or else the latest lr_find suggestion, or else the starting ``lr``. A new lr_find
clears the pick. Differential steps use ``[lr / ratio**(n-1), ..., lr / ratio, lr]``.

Example::

    checklist = Checklist.recipe(learn)
    checklist.run()                           # every pending step, headless
    for step in checklist.steps: print(step.name, step.status, step.result)
"""
from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from .learner import Learner
from .metrics import accuracy

LR_FIND_START = 1e-7  # the sweep's first LR (last group)


@dataclass
class Step:
    """One step of the recipe: what to do (``action`` with ``params``), why, and what happened."""

    name: str
    action: str
    params: dict = field(default_factory=dict)
    why: str = ""
    status: str = "pending"
    result: dict = field(default_factory=dict)
    error: str = ""


def differential_lrs(lr: float, n_groups: int, ratio: float) -> list[float]:
    """``[lr / ratio**(n-1), ..., lr / ratio, lr]``: each group ``ratio`` times lower than the next."""
    return [lr / ratio ** (n_groups - 1 - i) for i in range(n_groups)]


def _precompute(learn: Learner, checklist: "Checklist", params: dict) -> dict:
    if params.get("size"):
        learn.set_size(params["size"])
    learn.augment = False
    learn.precompute = True
    return {"size": learn.data.size, "features": int(learn.model.head[0].num_features)}


def _lr_find(learn: Learner, checklist: "Checklist", params: dict) -> dict:
    n = len(learn.layer_groups)
    start = differential_lrs(LR_FIND_START, n, checklist.ratio) if params.get("differential") else LR_FIND_START
    result = learn.lr_find(start_lr=start, end_lr=params.get("end_lr", 10.0), num_iter=params.get("num_iter", 100))
    checklist.record_lr_find(result)
    return {"suggestion": result.suggestion, "lr": checklist.lr, "stop_reason": result.stop_reason,
            "curve": result.to_dict()}


def _fit(learn: Learner, checklist: "Checklist", params: dict) -> dict:
    lr = params.get("lr") or checklist.lr
    lrs = differential_lrs(lr, len(learn.layer_groups), checklist.ratio) if params.get("differential") else lr
    if "precompute" in params and not params["precompute"]:
        learn.precompute = False
    if "augment" in params:
        learn.augment = params["augment"]
    if params.get("size"):
        learn.set_size(params["size"])
    if params.get("precompute"):
        learn.precompute = True
    start = len(learn.recorder.epochs)
    learn.fit(lrs, n_cycle=params.get("n_cycle", 1), cycle_len=params.get("cycle_len", 1),
              cycle_mult=params.get("cycle_mult", 1))
    epochs = learn.recorder.epochs[start:]
    last = epochs[-1] if epochs else {}
    return {"lrs": learn.group_lrs(lrs), "epochs": len(epochs), "size": learn.data.size,
            "augment": learn.augment, "precompute": learn.precompute, "valid_loss": last.get("valid_loss"),
            "accuracy": last.get("accuracy"), "cancelled": learn.state.cancelled}


def _unfreeze(learn: Learner, checklist: "Checklist", params: dict) -> dict:
    learn.unfreeze()
    return {"trainable_groups": len(learn.layer_groups) - learn.n_frozen}


def _differential(learn: Learner, checklist: "Checklist", params: dict) -> dict:
    checklist.set_ratio(params.get("ratio", checklist.ratio))
    return {"ratio": checklist.ratio, "lrs": differential_lrs(checklist.lr, len(learn.layer_groups), checklist.ratio)}


def _tta(learn: Learner, checklist: "Checklist", params: dict) -> dict:
    plain = accuracy(*learn.get_preds())
    probs, targets = learn.tta(params.get("n", 4))
    return {"accuracy": accuracy(probs, targets), "plain_accuracy": plain, "size": learn.data.size}


ACTIONS: dict[str, Callable[[Learner, "Checklist", dict], dict]] = {
    "precompute": _precompute, "lr_find": _lr_find, "fit": _fit, "unfreeze": _unfreeze,
    "differential": _differential, "tta": _tta,
}


class Checklist:
    """The steps of the recipe for one learner, run in order, headless.

    Args:
        learn: the learner the steps act on.
        steps: the steps, in order.
        lr: the LR of the last layer group until an lr_find suggests one (or the user picks one). Default: 1e-2.
        ratio: each layer group's LR is ``ratio`` times lower than the next one's. Default: 3.
    """

    def __init__(self, learn: Learner, steps: list[Step], lr: float = 1e-2, ratio: float = 3.0):
        unknown = [s.action for s in steps if s.action not in ACTIONS]
        if unknown:
            raise ValueError(f"unknown step action(s) {unknown}; expected one of {sorted(ACTIONS)}")
        learn.group_lrs(lr)  # the same checks as fit: positive and finite
        self.learn, self.steps, self.start_lr = learn, steps, float(lr)
        self.set_ratio(ratio)
        self.suggested_lr: float | None = None  # the latest lr_find suggestion
        self.picked_lr: float | None = None     # the user's choice (a click on the curve), until the next lr_find
        self.lr_finds: list = []                # every LRFinderResult, in order

    @property
    def lr(self) -> float:
        """The LR the next fit step uses (last group): picked, else the latest suggestion, else ``lr``."""
        return self.picked_lr or self.suggested_lr or self.start_lr

    def pick_lr(self, lr: float) -> None:
        """Use ``lr`` for the following fit steps (until the next lr_find)."""
        self.picked_lr = self.learn.group_lrs(lr)[-1]

    def set_ratio(self, ratio: float) -> None:
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 1 <= ratio <= 100:
            raise ValueError(f"ratio={ratio!r}: expected how many times lower each group's LR is, 1..100")
        self.ratio = float(ratio)

    def record_lr_find(self, result) -> None:
        """Keep a sweep; its suggestion (if any) becomes the LR and clears an earlier pick."""
        self.lr_finds.append(result)
        if result.suggestion is not None:
            self.suggested_lr, self.picked_lr = result.suggestion, None

    @classmethod
    def recipe(cls, learn: Learner, lr: float = 1e-2, ratio: float = 3.0, size: int | None = None,
               final_size: int | None = None, head_cycles: int = 2, aug_cycles: int = 2,
               unfrozen_cycles: int = 3, final_cycles: int = 1, tta_n: int = 4, lr_find_iters: int = 100,
               unfrozen_lr_find_iters: int = 60) -> "Checklist":
        """The course checklist (``course-notes.txt``), in order:

        precompute; lr_find; train the head on the cache (``head_cycles`` epochs); train the head with
        augmentation (``aug_cycles`` cycles of 1 epoch); unfreeze; differential LRs (``ratio``); lr_find
        again; train everything with cycle_mult=2 (``unfrozen_cycles``: 1+2+4... epochs); progressive
        resize to ``final_size`` (skipped if None); test-time augmentation.
        """
        size = size or learn.data.size
        diff = {"differential": True, "augment": True, "cycle_len": 1, "cycle_mult": 2}
        steps = [
            Step("Precompute activations", "precompute", {"size": size},
                 "Run the frozen pretrained body once and keep its outputs: the head then trains in milliseconds."),
            Step("Find the learning rate", "lr_find", {"num_iter": lr_find_iters},
                 "Raise the LR each batch; pick the highest LR where the loss is still clearly falling."),
            Step("Train the head on precomputed activations", "fit", {"precompute": True, "n_cycle": head_cycles},
                 "Only the new head starts from scratch; the body already sees edges and shapes."),
            Step("Train the head with augmentation", "fit",
                 {"precompute": False, "augment": True, "n_cycle": aug_cycles, "cycle_len": 1},
                 "Augmented images are new views of the same examples: less over-fitting."),
            Step("Unfreeze all layers", "unfreeze", {}, "Now the body can adapt to these images too."),
            Step("Set differential learning rates", "differential", {"ratio": ratio},
                 f"Each layer group gets a {ratio:g}x lower LR than the next: early layers hold general features."),
            Step("Find the learning rate again", "lr_find", {"differential": True, "num_iter": unfrozen_lr_find_iters},
                 "The whole network trains now, so the best LR has changed; the sweep keeps the ratios."),
            Step("Train everything with cycle_mult=2", "fit", {**diff, "n_cycle": unfrozen_cycles},
                 "SGDR: each restart jumps out of a narrow minimum; cycles double in length."),
        ]
        if final_size:
            steps.append(Step(f"Progressive resize to {final_size}px", "fit",
                              {**diff, "size": final_size, "n_cycle": final_cycles},
                              "Small images trained fast; larger ones now add detail (and act as augmentation)."))
        steps.append(Step("Test-time augmentation", "tta", {"n": tta_n},
                          "Average the predictions of several augmented views of each image."))
        return cls(learn, steps, lr, ratio)

    def pending(self) -> list[Step]:
        return [s for s in self.steps if s.status != "done"]

    def run_step(self, step: Step) -> Step:
        """Run one step; its status ends done, failed (error kept) or stopped (a cancelled fit)."""
        step.status, step.error, step.result = "running", "", {}
        start = time.perf_counter()
        self.learn.recorder.stage = step.name
        try:
            step.result = ACTIONS[step.action](self.learn, self, dict(step.params))
        except Exception as e:
            step.status, step.error = "failed", f"{type(e).__name__}: {e}"
            step.result = {"seconds": time.perf_counter() - start, "traceback": traceback.format_exc()}
            raise
        step.result["seconds"] = time.perf_counter() - start
        step.status = "stopped" if step.result.get("cancelled") else "done"
        return step

    def run(self) -> "Checklist":
        """Run every step that is not done yet, in order."""
        for step in self.pending():
            self.run_step(step)
        return self
