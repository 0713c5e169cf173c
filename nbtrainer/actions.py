"""What each kind of checklist step does to the learner: the actions, their editable parameters, and
differential learning rates.

An action is ``action(learn, checklist, params) -> result dict``; :class:`nbtrainer.checklist.Checklist`
runs them and keeps their results. ``EDITABLE`` names the parameters a user may change before running a
step (the widget's inputs) with the check each value must pass.

Example::

    differential_lrs(0.01, 3, 3)          # [0.01/9, 0.01/3, 0.01]
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .learner import Learner
from .metrics import accuracy

if TYPE_CHECKING:
    from .checklist import Checklist

LR_FIND_START = 1e-7  # the sweep's first LR (last group)


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
    (``size`` means ``learn.set_size``); :func:`apply_settings` makes them, :mod:`nbtrainer.script` writes
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


def _precompute(learn: Learner, checklist: "Checklist", params: dict) -> dict:
    apply_settings(learn, "precompute", params)
    return {"size": learn.data.size, "features": int(learn.model.head[0].num_features)}


def _lr_find(learn: Learner, checklist: "Checklist", params: dict) -> dict:
    n = len(learn.layer_groups)
    start = differential_lrs(LR_FIND_START, n, checklist.ratios) if params.get("differential") else LR_FIND_START
    result = learn.lr_find(start_lr=start, end_lr=params.get("end_lr", 10.0), num_iter=params.get("num_iter", 100))
    cancelled = result.stop_reason == "cancelled"
    if not cancelled:  # a stopped sweep's partial curve does not change the LR
        checklist.record_lr_find(result)
    return {"suggestion": result.suggestion, "lr": checklist.lr, "stop_reason": result.stop_reason,
            "curve": result.to_dict(), "start_lr": start, "cancelled": cancelled}


def _fit(learn: Learner, checklist: "Checklist", params: dict) -> dict:
    lrs = checklist.planned_lrs(params)
    apply_settings(learn, "fit", params)
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
    checklist.set_ratio(params.get("ratio", checklist.ratios))
    return {"ratio": list(checklist.ratios), "lrs": differential_lrs(checklist.lr, len(learn.layer_groups),
                                                                     checklist.ratios)}


def _tta(learn: Learner, checklist: "Checklist", params: dict) -> dict:
    plain = accuracy(*learn.get_preds())
    probs, targets = learn.tta(params.get("n", 4))
    return {"accuracy": accuracy(probs, targets), "plain_accuracy": plain, "size": learn.data.size}


ACTIONS: dict[str, Callable[[Learner, "Checklist", dict], dict]] = {
    "precompute": _precompute, "lr_find": _lr_find, "fit": _fit, "unfreeze": _unfreeze,
    "differential": _differential, "tta": _tta,
}


def _check_int(name: str, low: int) -> Callable[[object], None]:
    def check(value) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}={value!r}: expected an integer >= {low}")
    return check


def _check_bool(name: str) -> Callable[[object], None]:
    def check(value) -> None:
        if not isinstance(value, bool):
            raise ValueError(f"{name}={value!r}: expected True or False")
    return check


# The parameters a user may change before running a step (the widget's inputs): default value and check.
EDITABLE: dict[str, dict[str, tuple[object, Callable[[object], None]]]] = {
    "fit": {"n_cycle": (1, _check_int("n_cycle", 1)), "cycle_len": (1, _check_int("cycle_len", 1)),
            "cycle_mult": (1, _check_int("cycle_mult", 1)), "augment": (False, _check_bool("augment"))},
    "lr_find": {"num_iter": (100, _check_int("num_iter", 10))},
    "tta": {"n": (4, _check_int("n", 1))},
}


def editable_params(step) -> dict[str, object]:
    """The step's editable parameters with their current values (the default where the step sets none).
    ``augment`` is offered only on fit steps that do not train on precomputed activations."""
    names = dict(EDITABLE.get(step.action, {}))
    if step.action == "fit" and step.params.get("precompute"):
        names.pop("augment")
    return {name: step.params.get(name, default) for name, (default, _) in names.items()}
