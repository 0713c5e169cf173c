"""The CLI's report folder: metrics JSON, PNG plots of training curves, per-group LRs and LR-finder
curves, a summary table.

The plots are drawn by :mod:`nbtrainer.train.plots` on figures outside pyplot (the notebook's backend is left alone).

Example::

    write_report("nbtrainer-out", learn, checklist, baseline=0.992)
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..html import figure
from ..train.plots import draw_accuracy, draw_losses, draw_lr_find, draw_lrs
from ..train.checkpoint import versions


def summary_rows(checklist) -> list[dict]:
    """One row per step: name, status, seconds, LRs, size, valid loss, accuracy (a fit's: of the weights it
    kept), which weights it kept."""
    rows = []
    for step in checklist.steps:
        r = step.result
        rows.append({"step": step.name, "status": step.status, "seconds": r.get("seconds"),
                     "lrs": r.get("lrs"), "size": r.get("size"), "epochs": r.get("epochs"),
                     "valid_loss": r.get("valid_loss"), "accuracy": r.get("accuracy"), "kept": r.get("kept"),
                     "detail": detail(r)})
    return rows


def checklist_html(checklist) -> str:
    """The checklist's steps as an HTML table with their status and results (its ``_repr_html_``)."""
    from ..html import pct, table

    rows = [[i, r["step"], r["status"], lrs_text(r["lrs"]) if r["lrs"] else "-",
             "-" if r["seconds"] is None else f"{r['seconds']:.1f} s", pct(r["accuracy"]), r["detail"] or "-"]
            for i, r in enumerate(summary_rows(checklist), 1)]
    done = sum(s.status == "done" for s in checklist.steps)
    return (f"<div><b>Checklist</b>: {done} of {len(checklist.steps)} steps done"
            f"{table(['#', 'step', 'status', 'LRs', 'time', 'accuracy', 'result'], rows)}</div>")


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
    return ""


def _fmt(value, spec: str, width: int) -> str:
    text = "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)
    return text.rjust(width)


def format_table(rows: list[dict]) -> str:
    """A plain-text table of :func:`summary_rows`."""
    header = f"{'step':<44} {'status':<8} {'time':>7} {'size':>5} {'ep':>3} {'valid loss':>10} {'accuracy':>8}  lrs"
    lines = [header, "-" * len(header)]
    for r in rows:
        lrs = " ".join(x for x in ("[" + lrs_text(r["lrs"]) + "]" if r["lrs"] else "", r.get("detail")) if x) or "-"
        lines.append(f"{r['step'][:44]:<44} {r['status']:<8} {_fmt(r['seconds'], '.1f', 6)}s {_fmt(r['size'], 'd', 5)} "
                     f"{_fmt(r['epochs'], 'd', 3)} {_fmt(r['valid_loss'], '.4f', 10)} {_fmt(r['accuracy'], '.2%', 8)}  "
                     f"{lrs}")
    return "\n".join(lines)


def _save(fig, path: Path, dpi: int = 100) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path


def plot_training(recorder, path: Path) -> Path:
    """Training loss per iteration (smoothed), validation loss and accuracy per epoch; stages marked."""
    fig, ax = figure(1, 2, figsize=(11, 4))
    draw_losses(ax[0, 0], recorder)
    draw_accuracy(ax[0, 1], recorder)
    return _save(fig, path)


def plot_lr_schedule(recorder, group_names: list[str], path: Path) -> Path:
    """Each layer group's LR per iteration (log scale): SGDR cycles and differential LRs."""
    fig, ax = figure(figsize=(11, 3.5))
    draw_lrs(ax[0, 0], recorder, group_names)
    return _save(fig, path)


def plot_lr_finds(finds: list[tuple[str, dict]], path: Path) -> Path:
    """One panel per LR-finder sweep: raw and smoothed loss against the LR (log), the suggestion marked."""
    fig, axes = figure(1, len(finds), figsize=(5.5 * len(finds), 3.8))
    for ax, (title, curve) in zip(axes[0], finds):
        draw_lr_find(ax, curve, title)
    return _save(fig, path)


def plot_confusion(interp, path: Path) -> Path:
    """The confusion matrix as a heat map with the counts written in."""
    cm = interp.confusion_matrix().numpy()
    n = len(interp.classes)
    fig, axes = figure(figsize=(1.0 + 0.5 * n, 0.8 + 0.5 * n))
    ax = axes[0, 0]
    ax.imshow(cm, cmap="Blues")
    for a in range(n):
        for p in range(n):
            if cm[a, p]:
                ax.text(p, a, str(cm[a, p]), ha="center", va="center", fontsize=8,
                        color="white" if cm[a, p] > cm.max() / 2 else "black")
    ax.set(xticks=range(n), yticks=range(n), xticklabels=interp.classes, yticklabels=interp.classes,
           xlabel="predicted", ylabel="actual", title="Confusion matrix" + (" (TTA)" if interp.tta else ""))
    return _save(fig, path, dpi=110)


def plot_top_losses(interp, path: Path, k: int = 9) -> Path:
    """The ``k`` validation images with the highest loss: predicted / actual / loss / probability of actual."""
    rows = interp.top_losses(k)
    cols = 3
    fig, axes = figure((len(rows) + cols - 1) // cols, cols, figsize=(3 * cols, 3.2 * ((len(rows) + cols - 1) // cols)))
    for ax in axes.flat:
        ax.axis("off")
    for ax, row in zip(axes.flat, rows):
        ax.imshow(interp.image(row["index"]))
        ax.set_title(f"{row['predicted']}/{row['actual']} / {row['loss']:.2f} / {row['prob_actual']:.2f}", fontsize=9)
    fig.suptitle("Top losses: predicted / actual / loss / probability of actual")
    return _save(fig, path, dpi=110)


def write_report(out: str | Path, learn, checklist, extra: dict | None = None, interp=None) -> dict[str, Path]:
    """Write ``checkpoint.pt`` (to train on), ``model.safetensors`` (to share), ``metrics.json``, ``training.png``, ``lr_schedule.png``, ``lr_find.png`` and,
    given an :class:`~nbtrainer.results.interpret.Interpretation`, ``confusion.png`` and ``top_losses.png``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"checkpoint": out / "checkpoint.pt", "model": out / "model.safetensors", "metrics": out / "metrics.json",
             "training_plot": out / "training.png", "lr_plot": out / "lr_schedule.png",
             "lr_find_plot": out / "lr_find.png", "confusion": out / "confusion.png",
             "top_losses": out / "top_losses.png"}
    finds = [(s.name, s.result["curve"]) for s in checklist.steps if s.status == "done" and "curve" in s.result]
    learn.save(paths["checkpoint"])
    learn.save_model(paths["model"])
    metrics = {"steps": summary_rows(checklist), "epochs": learn.recorder.epochs, "config": learn.config,
               "lr_finds": [{"step": name, **curve} for name, curve in finds],
               "classes": learn.data.classes, "versions": versions(), **(extra or {})}
    if interp is not None:
        metrics["interpretation"] = interp.to_dict()
        plot_confusion(interp, paths["confusion"])
        plot_top_losses(interp, paths["top_losses"])
    paths["metrics"].write_text(json.dumps(metrics, indent=2, default=float))
    if learn.recorder.iterations:
        plot_training(learn.recorder, paths["training_plot"])
        plot_lr_schedule(learn.recorder, learn.group_names, paths["lr_plot"])
    if finds:
        plot_lr_finds(finds, paths["lr_find_plot"])
    return {k: p for k, p in paths.items() if p.exists()}
