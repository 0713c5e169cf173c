"""The checklist's state as trait values of :class:`~nbtrainer.widget.model.TrainerModel`: the one place the
app reads the engine for its views. The views then read traits only, never the checklist or the learner
(which the worker thread changes while a step runs).

Example::

    traits = checklist_traits(checklist)
    traits["statuses"], traits["steps"][0]["params"]     # ['pending', ...], {'num_iter': 100}
"""
from __future__ import annotations

from collections.abc import Callable

from ..recipe.actions import editable_params
from ..recipe.checklist import Checklist
from ..recipe.summary import lrs_text, probe_text, suggestion_text


def step_detail(checklist: Checklist, index: int) -> str:
    """One line about step ``index``: the LRs it used (or will use), its accuracy (and on the test set, when
    the data has one) and what it kept."""
    step = checklist.steps[index]
    lrs = step.result.get("lrs") if step.status in ("done", "stopped") else (
        checklist.planned_lrs(step.params) if step.action == "fit" else None)
    text = "lrs " + lrs_text(lrs) if lrs else ""
    r = step.result
    if r.get("accuracy") is not None:
        text += f"{'; ' if text else ''}accuracy {r['accuracy']:.2%}"
    if r.get("test_accuracy") is not None:  # after the choices, on images never chosen on
        text += f"; test {r['test_accuracy']:.2%}"
    if r.get("kept"):
        text += f"; kept {r['kept']}"
    if step.action == "lr_find" and "suggestion" in r:
        text = suggestion_text(r["suggestion"], r.get("lr"))
    return text or probe_text(r)


def data_title(data) -> str:
    """The data in words a class knows: ``"2 classes (blue, red) · 12 train / 4 valid images"``. No size: the
    recipe's steps set it (the plan says which), so the data's size now may not be the one trained at."""
    names = ", ".join(data.classes[:6]) + (", ..." if len(data.classes) > 6 else "")
    return f"{data.c} classes ({names}) · {data.counts()}"


def outcome_message(checklist: Checklist, index: int) -> str | None:
    """What the panel's message line says when step ``index`` ends other than by running to its end: Stop
    pressed, or a fit that ended early (over-fitting, the time budget); None when it ran to its end."""
    step = checklist.steps[index]
    name = f"Step {index + 1} ({step.name})"
    kept = step.result.get("kept")
    if step.status == "stopped":
        return f"{name} stopped: you pressed Stop" + (f"; it kept {kept}" if kept else "") + ". Run it again to go on."
    reason = step.result.get("stop_reason")
    if step.status == "done" and reason in ("over-fitting", "time budget"):
        why = ("the validation loss stopped falling: it is over-fitting" if reason == "over-fitting"
               else "the next cycle would end past the time budget")
        return f"{name} ended early, {why}; it kept {kept}."
    return None


def checklist_traits(checklist: Checklist, hide: Callable[[str], str] = lambda text: text) -> dict:
    """Every trait of the model that is a copy of the checklist's (or its learner's) state; ``hide`` writes the
    server's folders in the steps' errors as the app shows them (``Places.hide``)."""
    c, learn = checklist, checklist.learn
    preview = c.preview()
    traits = {
        "steps": [{"name": s.name, "action": s.action, "why": s.why, "params": editable_params(s)} for s in c.steps],
        "statuses": [s.status for s in c.steps],
        "errors": [hide(s.error) for s in c.steps],
        "details": [step_detail(c, i) for i in range(len(c.steps))],
        "can_go_back": [c.can_go_back(i) for i in range(len(c.steps))],
        "lr": c.lr, "picked_lr": c.picked_lr, "suggested_lr": c.suggested_lr, "lr_source": c.lr_source,
        "ratios": list(c.ratios), "group_names": list(learn.group_names), "aug": learn.data.aug.to_dict(),
        "group_lrs": preview.get("lrs", []), "preview": preview,
        "title": data_title(learn.data), "plan": c.plan,
    }
    if c.lr_finds:
        traits["lr_curve"] = {**c.lr_finds[-1].to_dict(), "seq": len(c.lr_finds)}
    return traits
