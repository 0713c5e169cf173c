"""What each kind of checklist step does to the learner: the actions, their editable parameters, and
differential learning rates.

An action is ``action(learn, checklist, params) -> result`` (a typed dict of
:mod:`nbtrainer.recipe.results`); :class:`nbtrainer.recipe.checklist.Checklist` runs them and keeps their results. ``EDITABLE`` names the parameters a user may change before running a
step (the widget's inputs) with the check each value must pass.

Example::

    differential_lrs(0.01, 3, 3)          # [0.01/9, 0.01/3, 0.01]
"""
from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .. import distributed
from ..checks import is_int
from ..results.baseline import probe_baseline
from ..train.cycles import CycleEnd, FitResult
from ..train.evaluation import TTA_N
from ..train.learner import Learner
from ..train.lr_find import END_LR, MIN_NUM_ITER, NUM_ITER, START_LR
from ..train.metrics import accuracy
from ..train.learner_state import RESIZE, copy_to
from .lr_policy import unfrozen_lr
from .results import (DifferentialStepResult, FitStepResult, LRFindStepResult, PrecomputeStepResult, StepResult, TTAStepResult,
                      UnfreezeStepResult)

if TYPE_CHECKING:
    from .checklist import Checklist

UNFROZEN_SWEEP_SPAN = 100.0  # the whole network's sweep: head LR / 100 to head LR x 100


def differential_lrs(lr: float, n_groups: int, ratio: float | Sequence[float]) -> list[float]:
    """The LR of each layer group, earliest first, the last one ``lr``.

    ``ratio``: how many times lower each group's LR is than the next one's; one number for every
    boundary (``[lr / ratio**(n-1), ..., lr / ratio, lr]``) or ``n_groups - 1`` numbers, one per boundary
    (``ratios[k]`` = LR of group ``k+1`` / LR of group ``k``).

    Example::

        differential_lrs(0.01, 3, 3)          # [0.01/9, 0.01/3, 0.01]
        differential_lrs(0.01, 3, [10, 2])    # [0.01/20, 0.01/2, 0.01]
    """
    ratios = check_ratios(ratio, n_groups)
    lrs = [float(lr)]
    for r in reversed(ratios):
        lrs.insert(0, lrs[0] / r)
    return lrs


def check_ratios(ratio: float | Sequence[float], n_groups: int) -> list[float]:
    """``n_groups - 1`` ratios from one number or a sequence; each in [1, 100]. Raises ``ValueError`` naming it."""
    values = [ratio] * (n_groups - 1) if isinstance(ratio, (int, float)) else list(ratio)
    bad = len(values) != n_groups - 1 or any(
        isinstance(v, bool) or not isinstance(v, (int, float)) or not 1 <= v <= 100 for v in values)
    if bad:
        raise ValueError(f"ratio={ratio!r}: expected how many times lower each group's LR is than the next one's, "
                         f"a number in 1..100 or {n_groups - 1} of them (one per boundary between {n_groups} groups)")
    return [float(v) for v in values]


def settings(action: str, params: dict) -> list[tuple[str, object]]:
    """The learner settings a precompute or fit step makes before its work, in order, as ``(name, value)``
    (``size`` means ``learn.set_size``); :func:`apply_settings` makes them, :mod:`nbtrainer.recipe.script` writes
    them out. The order matters: precompute goes off before augmentation or size change, on after them."""
    if action == "precompute":
        return [*([("size", params["size"])] if params.get("size") else []), ("augment", False),
                ("precompute", True)]
    out: list[tuple[str, object]] = []
    if "precompute" in params and not params["precompute"]:
        out.append(("precompute", False))
    if "augment" in params:
        out.append(("augment", params["augment"]))
    if params.get("size"):
        out.append(("size", params["size"]))
    if params.get("precompute"):
        out.append(("precompute", True))
    return out


def apply_settings(learn: Learner, action: str, params: dict) -> None:
    """Make the settings of :func:`settings` on ``learn``."""
    for name, value in settings(action, params):
        if name == "size":
            learn.set_size(value)
        else:
            setattr(learn, name, value)


def _precompute(learn: Learner, checklist: "Checklist", params: dict) -> PrecomputeStepResult:
    apply_settings(learn, "precompute", params)
    result: PrecomputeStepResult = {"size": learn.data.size, "features": int(learn.model.head[0].num_features)}
    return {**result, **(bar_to_beat(learn) if params.get("probe") else {})}


def bar_to_beat(learn: Learner) -> dict:
    """The linear probe on the cached features (:func:`~nbtrainer.results.baseline.probe_baseline`), the bar
    fine-tuning has to beat, as the precompute step's ``probe_*`` keys; computed by the first process alone.
    A probe that cannot be fit (e.g. one image in a class) says why and never ends the step."""
    def probe() -> dict:
        try:
            p = probe_baseline(learn)
        except Exception as e:  # a bar that cannot be drawn must not end the run
            return {"probe_error": f"{type(e).__name__}: {e}"}
        return {"probe_accuracy": p.accuracy, "probe_C": p.C, "probe_seconds": p.seconds,
                **({} if p.test_accuracy is None else {"probe_test_accuracy": p.test_accuracy})}
    return distributed.on_main(probe, "the linear probe") or {}


def _head_lr(checklist: "Checklist") -> float:
    """The last group's LR of the last done fit without differential LRs (the head's), else the LR."""
    for step in reversed(checklist.steps):
        if step.action == "fit" and step.status == "done" and not step.params.get("differential"):
            return step.result["lrs"][-1]
    return checklist.lr


def _sweep_range(params: dict, head_lr: float, ratios, n_groups: int) -> tuple[float | list[float], float]:
    """The start LR(s) and the end LR of an lr_find step.

    The head's sweep runs over fastai's range, 1e-7 to 10. The whole network's sweep (``differential``)
    runs from ``UNFROZEN_SWEEP_SPAN`` times below to as many times above the head's LR, with the ratios
    between groups: its suggestion is bounded by the head's LR (``recipe.lr_policy.unfrozen_lr``),
    and each of its iterations is a training step of the whole network, so it spends them where the
    choice is made rather than on the flat start of the curve (the photos set: 1e-7 to 10 in 60
    iterations took a minute of a 6-minute run)."""
    if not params.get("differential"):
        return START_LR, params.get("end_lr", END_LR)
    start = differential_lrs(head_lr / UNFROZEN_SWEEP_SPAN, n_groups, ratios)
    return start, params.get("end_lr", head_lr * UNFROZEN_SWEEP_SPAN)


def _lr_find(learn: Learner, checklist: "Checklist", params: dict) -> LRFindStepResult:
    head_lr = _head_lr(checklist)
    start, end = _sweep_range(params, head_lr, checklist.ratios, len(learn.layer_groups))
    result = learn.lr_find(start_lr=start, end_lr=end, num_iter=step_param("lr_find", params, "num_iter"))
    cancelled = result.stop_reason == "cancelled"
    if not cancelled:  # a stopped sweep's partial curve does not change the LR
        # the whole network's sweep: its suggestion bounded by the head's LR (see recipe.lr_policy.unfrozen_lr)
        bounded = unfrozen_lr(result.suggestion, head_lr) if params.get("differential") else None
        checklist.record_lr_find(result, bounded)
    return {"suggestion": result.suggestion, "lr": checklist.lr, "stop_reason": result.stop_reason,
            "curve": result.to_dict(), "start_lr": start, "end_lr": end, "cancelled": cancelled}


# fit's keyword arguments a step may set, with fit's defaults: the action passes them, the script writes them
FIT_OPTIONS = {name: inspect.signature(Learner.fit).parameters[name].default
               for name in ("n_cycle", "cycle_len", "cycle_mult", "keep_best", "patience", "snapshots", "warmup",
                            "stop_on")}


def fit_kwargs(params: dict) -> dict:
    """The keyword arguments of ``learn.fit`` that a fit step with ``params`` uses."""
    return {name: params.get(name, default) for name, default in FIT_OPTIONS.items()}


def resizes(params: dict) -> bool:
    """A fit step that trains at a new size and keeps the best: :func:`fit_resized` runs it."""
    return bool(params.get("keep_best") and params.get("size"))


def _fit(learn: Learner, checklist: "Checklist", params: dict) -> FitStepResult:
    lrs = checklist.planned_lrs(params)
    resize = resizes(params)
    apply_settings(learn, "fit", {k: v for k, v in params.items() if not (resize and k == "size")})
    start = len(learn.recorder.epochs)
    if resize:
        outcome, kept = fit_resized(learn, lrs, params["size"], **fit_kwargs(params), **checklist.time_left(params))
    else:
        outcome = learn.fit(lrs, **fit_kwargs(params), **checklist.time_left(params))
        kept = outcome.kept_text()
    epochs = learn.recorder.epochs[start:]
    last = epochs[-1] if epochs else {}
    valid_loss, acc = ((learn.state.valid_loss, learn.state.accuracy) if outcome.kept or resize
                       else (last.get("valid_loss"), last.get("accuracy")))
    return {"lrs": learn.group_lrs(lrs), "epochs": len(epochs), "size": learn.data.size,
            "augment": learn.augment, "precompute": learn.precompute, "valid_loss": valid_loss,
            "accuracy": acc, "cancelled": learn.state.cancelled, "kept": kept,
            "cycle_ends": [dataclasses.asdict(p) for p in outcome.cycle_ends],
            "stop_reason": outcome.stop_reason}


def fit_resized(learn: Learner, lrs, size: int, **fit_options) -> tuple[FitResult, str]:
    """Progressive resizing that keeps the best, the start at the old size included: validate at the old
    size, fit at ``size`` (``fit_options`` as ``learn.fit``'s, keep_best on), and go back to the old size,
    weights and ensemble (:data:`~nbtrainer.train.learner_state.RESIZE`) when no point of the new fit beat
    them. The resize step and its exported script both run it. Returns the fit's result and what was kept.

    Example::

        result, kept = fit_resized(learn, [lr / 9, lr / 3, lr], 224, n_cycle=2, cycle_mult=2, keep_best=True)
    """
    if size == learn.data.size:
        outcome = learn.fit(lrs, **fit_options)
        return outcome, outcome.kept_text()
    loss, acc = learn.validate()  # the fit's own start is validated at the new size: this one at the old
    start, before = CycleEnd(0, 0, loss, acc), copy_to(learn.state_dict(RESIZE))
    learn.set_size(size)
    outcome = learn.fit(lrs, **fit_options)
    if outcome.kept is not None and outcome.kept.better_than(start):
        return outcome, outcome.kept_text()
    learn.load_state_dict(before)
    learn.state.valid_loss, learn.state.accuracy = start.valid_loss, start.accuracy
    return outcome, f"the start at {learn.data.size}px: training at {size}px did not improve on it"


def _unfreeze(learn: Learner, checklist: "Checklist", params: dict) -> UnfreezeStepResult:
    learn.unfreeze()
    return {"trainable_groups": len(learn.layer_groups) - learn.n_frozen}


def _differential(learn: Learner, checklist: "Checklist", params: dict) -> DifferentialStepResult:
    checklist.set_ratio(params.get("ratio", checklist.ratios))
    return {"ratio": list(checklist.ratios), "lrs": differential_lrs(checklist.lr, len(learn.layer_groups),
                                                                     checklist.ratios)}


def _tta(learn: Learner, checklist: "Checklist", params: dict) -> TTAStepResult:
    """Test-time augmentation and, with ``snapshots`` > 1, a snapshot ensemble; each is measured on the
    validation set beside the plain predictions and kept only if it beats them (ties: the cheaper one):
    an augmentation too strong for the data can make TTA worse than no TTA (measured: -5 points on the
    ``photos`` benchmark set), and this step, like every fit, must not end below where it started."""
    n = step_param("tta", params, "n")
    # 1 (or 0) means the learner's own, kept weights; fewer cycle ends than asked: all of them
    k = min(params.get("snapshots", 0), len(learn.snapshots)) if params.get("snapshots", 0) > 1 else 0
    plain_probs, targets = learn.get_preds()
    scores = {"plain": accuracy(plain_probs, targets), f"TTA ({n} passes)": accuracy(*learn.tta(n))}
    if k > 1:
        scores[f"snapshot ensemble of {k}"] = accuracy(*learn.get_preds(snapshots=k))
        scores[f"snapshot ensemble of {k} with TTA"] = accuracy(*learn.tta(n, snapshots=k))
    chosen = max(scores, key=lambda name: scores[name])  # the first of equals: the cheaper
    kept = chosen if chosen != "plain" else "plain predictions: TTA did not improve on them"
    return {"accuracy": scores[chosen], "plain_accuracy": scores["plain"], "tta_accuracy": scores[f"TTA ({n} passes)"],
            "scores": scores, "chosen": chosen, "kept": kept, "size": learn.data.size, "snapshots": k,
            "tta_n": n if "TTA" in chosen else 0, "ensemble": k if "ensemble" in chosen else 0}


ACTIONS: dict[str, Callable[[Learner, "Checklist", dict], StepResult]] = {
    "precompute": _precompute, "lr_find": _lr_find, "fit": _fit, "unfreeze": _unfreeze,
    "differential": _differential, "tta": _tta,
}


def _check_int(name: str, low: int) -> Callable[[object], None]:
    def check(value) -> None:
        if not is_int(value, low):
            raise ValueError(f"{name}={value!r}: expected an integer >= {low}")
    return check


def _check_bool(name: str) -> Callable[[object], None]:
    def check(value) -> None:
        if not isinstance(value, bool):
            raise ValueError(f"{name}={value!r}: expected True or False")
    return check


# The parameters a user may change before running a step (the widget's inputs): default value and check.
EDITABLE: dict[str, dict[str, tuple[object, Callable[[object], None]]]] = {
    "fit": {**{name: (FIT_OPTIONS[name], _check_int(name, 1)) for name in ("n_cycle", "cycle_len", "cycle_mult")},
            "augment": (False, _check_bool("augment"))},
    "lr_find": {"num_iter": (NUM_ITER, _check_int("num_iter", MIN_NUM_ITER))},
    "tta": {"n": (TTA_N, _check_int("n", 1))},
}


def step_param(action: str, params: dict, name: str):
    """An editable parameter's value in a step's ``params``: the step's own, else the library's default."""
    return params.get(name, EDITABLE[action][name][0])


def editable_params(step) -> dict[str, object]:
    """The step's editable parameters with their current values (the default where the step sets none).
    ``augment`` is offered only on fit steps that do not train on precomputed activations."""
    names = dict(EDITABLE.get(step.action, {}))
    if step.action == "fit" and step.params.get("precompute"):
        names.pop("augment")
    return {name: step.params.get(name, default) for name, (default, _) in names.items()}
