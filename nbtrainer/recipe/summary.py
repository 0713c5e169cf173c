"""The checklist's steps in words: one row per step, a plain-text table, an HTML table, one line about a
step's result. It reads the recipe's step results (:mod:`nbtrainer.recipe.results`) by their keys: it lives
with them, in the recipe layer.

Example::

    print(format_table(summary_rows(checklist)))
"""
from __future__ import annotations

import math


def summary_rows(checklist) -> list[dict]:
    """One row per step: name, status, seconds, LRs, size, valid loss, accuracy (a fit's: of the weights it
    kept), which weights it kept, and the test accuracy after it (None without a test set)."""
    rows = []
    for step in checklist.steps:
        r = step.result
        rows.append({"step": step.name, "status": step.status, "seconds": r.get("seconds"),
                     "lrs": r.get("lrs"), "size": r.get("size"), "epochs": r.get("epochs"),
                     "valid_loss": r.get("valid_loss"), "accuracy": r.get("accuracy"), "kept": r.get("kept"),
                     "test_accuracy": r.get("test_accuracy"), "detail": detail(r)})
    return rows


def checklist_html(checklist) -> str:
    """The checklist's steps as an HTML table with their status and results (its ``_repr_html_``)."""
    from ..present.html import pct, table

    summary = summary_rows(checklist)
    tested = checklist.learn.data.test is not None
    rows = [[i, r["step"], r["status"], lrs_text(r["lrs"]) if r["lrs"] else "-",
             "-" if r["seconds"] is None else f"{r['seconds']:.1f} s", pct(r["accuracy"]),
             *([pct(r["test_accuracy"])] if tested else []), r["detail"] or "-"]
            for i, r in enumerate(summary, 1)]
    done = sum(s.status == "done" for s in checklist.steps)
    header = ['#', 'step', 'status', 'LRs', 'time', 'valid accuracy', *(['test accuracy'] if tested else []), 'result']
    return (f"<div><b>Checklist</b>: {done} of {len(checklist.steps)} steps done"
            f"{table(header, rows)}</div>")


def lrs_text(lrs) -> str:
    """Group LRs, short: ``0.0011, 0.0033, 0.01``."""
    return ", ".join(f"{x:.2g}" for x in lrs)


def suggestion_text(suggestion: float | None, lr: float | None = None) -> str:
    """``"suggests 0.0018"``, and the LR the next fit uses where it is another (a bounded unfrozen sweep)."""
    text = "no suggestion" if suggestion is None else f"suggests {suggestion:.2g}"
    if lr is not None and (suggestion is None or f"{lr:.2g}" != f"{suggestion:.2g}"):
        text += f"; uses {lr:.2g}"
    return text


def detail(result: dict) -> str:
    """One line about a step's result for the summary table (an LR sweep's suggestion, ratios, the weights
    a fit kept, a snapshot ensemble)."""
    if "chosen" in result:
        others = ", ".join(f"{name} {acc:.2%}" for name, acc in result["scores"].items() if name != result["chosen"])
        return f"kept {result['kept']} ({others})"
    if "kept" in result:
        return f"kept {result['kept']}"
    if "suggestion" in result:
        return f"{suggestion_text(result['suggestion'])}; next LR {result['lr']:.2g}"
    if "ratio" in result:
        return "ratios " + ":".join(f"{r:g}" for r in result["ratio"])
    return probe_text(result)


def probe_text(result: dict) -> str:
    """The precompute step's bar to beat: ``"the bar to beat: a linear probe scores 95.00% (test 94.10%)"``."""
    if "probe_error" in result:
        return f"no linear probe ({result['probe_error']})"
    if "probe_accuracy" not in result:
        return ""
    test = f", test {result['probe_test_accuracy']:.2%}" if "probe_test_accuracy" in result else ""
    return f"the bar to beat: a linear probe scores {result['probe_accuracy']:.2%} on validation{test}"


def _fmt(value, spec: str, width: int) -> str:
    text = "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)
    return text.rjust(width)


def format_table(rows: list[dict]) -> str:
    """A plain-text table of :func:`summary_rows` (a test column when a step has a test accuracy)."""
    tested = any(r.get("test_accuracy") is not None for r in rows)
    header = (f"{'step':<44} {'status':<8} {'time':>7} {'size':>5} {'ep':>3} {'valid loss':>10} {'accuracy':>8}"
              f"{'   test' if tested else ''}  lrs")
    lines = [header, "-" * len(header)]
    for r in rows:
        lrs = " ".join(x for x in ("[" + lrs_text(r["lrs"]) + "]" if r["lrs"] else "", r.get("detail")) if x) or "-"
        test = f" {_fmt(r.get('test_accuracy'), '.2%', 7)}" if tested else ""
        lines.append(f"{r['step'][:44]:<44} {r['status']:<8} {_fmt(r['seconds'], '.1f', 6)}s {_fmt(r['size'], 'd', 5)} "
                     f"{_fmt(r['epochs'], 'd', 3)} {_fmt(r['valid_loss'], '.4f', 10)} {_fmt(r['accuracy'], '.2%', 8)}"
                     f"{test}  {lrs}")
    return "\n".join(lines)
