"""Export a checklist's history as a plain Python script over the headless API ("take it home").

Each step that was run becomes the calls its action made (:mod:`nbtrainer.recipe.actions`), with the
learning rates actually used written out as numbers: the LR a click picked, the suggestion of an
LR sweep, the differential spread. Run with the same data and seed, the script repeats the same
fits with the same LRs. A step that was stopped part-way is written as a comment (a full fit would
not repeat it), so the script warns when the run it describes was interrupted.

Example::

    code = checklist.to_script(save="model.pt")
    Path("recipe.py").write_text(code)          # python recipe.py
"""
from __future__ import annotations

from collections.abc import Callable

from ..train.lr_find import END_LR
from .actions import fit_kwargs, resizes, settings, step_param


def _settings(action: str, params: dict) -> list[str]:
    return [f"learn.set_size({value!r})" if name == "size" else f"learn.{name} = {value!r}"
            for name, value in settings(action, params)]


def _precompute(params: dict, result: dict) -> list[str]:
    return _settings("precompute", params)


def _lr_find(params: dict, result: dict) -> list[str]:
    call = (f"result = learn.lr_find(start_lr={result['start_lr']!r}, end_lr={result.get('end_lr', END_LR)!r}, "
            f"num_iter={step_param('lr_find', params, 'num_iter')!r})")
    found = "no suggestion" if result["suggestion"] is None else f"suggested {result['suggestion']!r}"
    return [call, f"print('lr_find suggests', result.suggestion)  # this run: {found}"]


def _fit(params: dict, result: dict) -> list[str]:
    kwargs = fit_kwargs(params)
    if result.get("stop_reason") == "time budget":  # the cycles the budget allowed this run, with no clock
        kwargs["n_cycle"] = len(result.get("cycle_ends", [])) or 1
    options = ", ".join(f"{name}={value!r}" for name, value in kwargs.items())
    if resizes(params):  # the new size is kept only if it beats the old one, as in the run
        lines = _settings("fit", {k: v for k, v in params.items() if k != "size"})
        lines.append(f"result, kept = fit_resized(learn, {result['lrs']!r}, {params['size']!r}, {options})")
        lines.append(f"print('kept', kept)  # this run kept: {result.get('kept')}")
    else:
        lines = _settings("fit", params)
        lines.append(f"learn.fit({result['lrs']!r}, {options})")
    lines.append("print('valid loss', learn.recorder.epochs[-1]['valid_loss'], "
                 "'accuracy', learn.recorder.epochs[-1]['accuracy'])")
    return lines


def _unfreeze(params: dict, result: dict) -> list[str]:
    return ["learn.unfreeze()"]


def _differential(params: dict, result: dict) -> list[str]:
    return [f"# ratios {result['ratio']!r}: the following fits spread the LR as {result['lrs']!r}"]


def _tta(params: dict, result: dict) -> list[str]:
    return [f"probs, targets = learn.tta({step_param('tta', params, 'n')!r}, snapshots={result.get('ensemble', 0)!r})"
            f"  # this run kept: {result.get('chosen', 'TTA')}",
            "print('TTA accuracy', accuracy(probs, targets))"]


def _augment_settings(params: dict, result: dict) -> list[str]:
    args = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return [f"data.aug = nbt.Augment({args})"]


EMITTERS: dict[str, Callable[[dict, dict], list[str]]] = {
    "precompute": _precompute, "lr_find": _lr_find, "fit": _fit, "unfreeze": _unfreeze,
    "differential": _differential, "tta": _tta, "augment_settings": _augment_settings,
}


def _learner_code(learn) -> str:
    args = ", ".join(f"{k}={tuple(v) if k == 'ps' else v!r}" for k, v in learn.config.items())
    return f"learn = nbt.Learner(data, {args})"


def checklist_script(checklist, data_code: str | None = None, save: str | None = None) -> str:
    """The script (a string) that replays ``checklist.history`` on a fresh learner.

    Args:
        checklist: a :class:`nbtrainer.Checklist` with steps run.
        data_code: an expression building the data; default: the data's own ``origin`` (demo or folder).
            Needed for data made from arrays in memory.
        save: if given, the script ends with ``learn.save(save)``.
    Raises ``ValueError`` when the data cannot be rebuilt from code and no ``data_code`` is given.
    """
    learn = checklist.learn
    data_code = data_code or learn.data.origin
    if data_code is None:
        raise ValueError("data_code: this data was made from arrays in memory; pass the expression that builds it, "
                         "e.g. data_code='nbt.ImageData.from_arrays(images, labels)'")
    lines = ['"""The nbtrainer checklist as it was run, with the learning rates actually used."""',
             "import nbtrainer as nbt", "from nbtrainer.recipe.actions import fit_resized",
             "from nbtrainer.train.metrics import accuracy", "",
             f"data = {data_code}", f"data.bs = {learn.data.bs!r}  # as the run trained (planned from the data)",
             _learner_code(learn)]
    for entry in checklist.history:
        lines += ["", f"# {entry['index'] + 1}. {entry['name']}" if entry["index"] >= 0 else f"# {entry['name']}"]
        if entry["result"].get("cancelled"):
            lines.append("# (stopped by the user part-way: not repeated here, so later numbers will differ)")
            continue
        lines += EMITTERS[entry["action"]](entry["params"], entry["result"])
    if save:
        lines += ["", f"learn.save({save!r})"]
    return "\n".join(lines) + "\n"
