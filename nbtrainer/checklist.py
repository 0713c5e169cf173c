"""The course's checklist as data: ordered steps, each with parameters, a status and a result.

Each step names an *action* (a function in :data:`ACTIONS`) and its parameters; running a step calls
the action on the learner and records the status (pending/running/done/failed/stopped), the seconds
it took and the action's result (LRs used, valid loss, accuracy...). Views (the CLI, the notebook
widget) render steps; they never hold training logic.

Learning rates: a step's ``lr`` parameter of ``None`` means "the checklist's current LR"
(:attr:`Checklist.lr`); differential steps use ``[lr / ratio**(n-1), ..., lr / ratio, lr]``.

Example::

    checklist = Checklist.recipe(learn, lr=1e-2)
    checklist.run()                           # every pending step, headless
    for step in checklist.steps: print(step.name, step.status, step.result)
"""
from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from .learner import Learner, accuracy

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


def _fit(learn: Learner, checklist: "Checklist", params: dict) -> dict:
    lr = params.get("lr") or checklist.lr
    lrs = differential_lrs(lr, len(learn.layer_groups), checklist.ratio) if params.get("differential") else lr
    if "augment" in params:
        learn.augment = params["augment"]
    if params.get("size"):
        learn.set_size(params["size"])
    start = len(learn.recorder.epochs)
    learn.fit(lrs, n_cycle=params.get("n_cycle", 1), cycle_len=params.get("cycle_len", 1),
              cycle_mult=params.get("cycle_mult", 1))
    epochs = learn.recorder.epochs[start:]
    last = epochs[-1] if epochs else {}
    return {"lrs": learn.group_lrs(lrs), "epochs": len(epochs), "size": learn.data.size,
            "augment": learn.augment, "valid_loss": last.get("valid_loss"), "accuracy": last.get("accuracy"),
            "cancelled": learn.state.cancelled}


def _unfreeze(learn: Learner, checklist: "Checklist", params: dict) -> dict:
    learn.unfreeze()
    return {"trainable_groups": len(learn.layer_groups) - learn.n_frozen}


def _tta(learn: Learner, checklist: "Checklist", params: dict) -> dict:
    plain = accuracy(*learn.get_preds())
    probs, targets = learn.tta(params.get("n", 4))
    return {"accuracy": accuracy(probs, targets), "plain_accuracy": plain, "size": learn.data.size}


ACTIONS: dict[str, Callable[[Learner, "Checklist", dict], dict]] = {
    "fit": _fit, "unfreeze": _unfreeze, "tta": _tta,
}


class Checklist:
    """The steps of the recipe for one learner, run in order, headless."""

    def __init__(self, learn: Learner, steps: list[Step], lr: float = 1e-2, ratio: float = 3.0):
        unknown = [s.action for s in steps if s.action not in ACTIONS]
        if unknown:
            raise ValueError(f"unknown step action(s) {unknown}; expected one of {sorted(ACTIONS)}")
        learn.group_lrs(lr)  # the same checks as fit: positive and finite
        if not 1 <= ratio <= 100:
            raise ValueError(f"ratio={ratio!r}: expected how many times lower each group's LR is, 1..100")
        self.learn, self.steps, self.lr, self.ratio = learn, steps, float(lr), float(ratio)

    @classmethod
    def recipe(cls, learn: Learner, lr: float = 1e-2, ratio: float = 3.0, size: int | None = None,
               final_size: int | None = None, head_cycles: int = 1, aug_cycles: int = 2,
               unfrozen_cycles: int = 3, final_cycles: int = 1, tta_n: int = 4) -> "Checklist":
        """The course checklist: head, head with augmentation, unfreeze, differential LRs with cycle_mult=2,
        progressive resize to ``final_size`` (skipped if None), TTA."""
        size = size or learn.data.size
        steps = [
            Step("Train the head", "fit", {"augment": False, "size": size, "n_cycle": head_cycles},
                 "The pretrained body already sees edges and shapes; only the new head starts from scratch."),
            Step("Train the head with augmentation", "fit", {"augment": True, "n_cycle": aug_cycles, "cycle_len": 1},
                 "Augmented images are new views of the same examples: less over-fitting."),
            Step("Unfreeze all layers", "unfreeze", {}, "Now the body can adapt to these images too."),
            Step("Train everything, differential LRs, cycle_mult=2", "fit",
                 {"differential": True, "augment": True, "n_cycle": unfrozen_cycles, "cycle_len": 1, "cycle_mult": 2},
                 "Early layers get 3-10x lower LRs: they hold general features worth keeping."),
        ]
        if final_size:
            steps.append(Step(f"Progressive resize to {final_size}px", "fit",
                              {"differential": True, "augment": True, "size": final_size, "n_cycle": final_cycles,
                               "cycle_len": 1, "cycle_mult": 2},
                              "Small images first trained fast; larger ones now add detail."))
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
