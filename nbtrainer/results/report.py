"""The CLI's report folder: metrics JSON, PNG plots of training curves, per-group LRs and LR-finder
curves, a summary table.

matplotlib is imported inside the plotting functions, so importing nbtrainer stays fast.

Example::

    write_report("nbtrainer-out", learn, checklist, baseline=0.992)
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..train.checkpoint import versions
from ..train.metrics import smooth


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only), imported on first use."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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


def plot_training(recorder, path: Path) -> Path:
    """Training loss per iteration (smoothed), validation loss and accuracy per epoch; stages marked."""
    plt = pyplot()

    its = recorder.iterations
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    losses = [r["loss"] for r in its]
    ax_loss.plot(losses, alpha=0.3, label="train loss (batch)")
    ax_loss.plot(smooth(losses), label="train loss (smoothed)")
    ends = [sum(1 for r in its if r["epoch"] <= e["epoch"]) for e in recorder.epochs]
    ax_loss.plot(ends, [e["valid_loss"] for e in recorder.epochs], "o-", label="valid loss")
    ax_loss.set(xlabel="iteration", ylabel="loss", yscale="log", title="Loss")
    ax_loss.legend()
    ax_acc.plot([e["epoch"] + 1 for e in recorder.epochs], [e["accuracy"] for e in recorder.epochs], "o-")
    ends = [e for e in recorder.epochs if e.get("cycle_end")]
    ax_acc.plot([e["epoch"] + 1 for e in ends], [e["accuracy"] for e in ends], "s", mfc="none", ms=9,
                label="cycle end")
    kept = [e for e in recorder.epochs if e.get("kept")]
    ax_acc.plot([e["epoch"] + 1 for e in kept], [e["accuracy"] for e in kept], "*", ms=14, label="kept")
    ax_acc.legend(fontsize=8)
    ax_acc.set(xlabel="epoch", ylabel="valid accuracy", title="Validation accuracy")
    _mark_stages(ax_acc, recorder.epochs)
    ax_acc.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_lr_schedule(recorder, group_names: list[str], path: Path) -> Path:
    """Each layer group's LR per iteration (log scale): SGDR cycles and differential LRs."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(11, 3.5))
    for g, name in enumerate(group_names):
        ax.plot([r["lrs"][g] for r in recorder.iterations], label=name)
    ax.set(xlabel="iteration", ylabel="learning rate", yscale="log", title="Learning rate per layer group (SGDR)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_lr_finds(finds: list[tuple[str, dict]], path: Path) -> Path:
    """One panel per LR-finder sweep: raw and smoothed loss against the LR (log), the suggestion marked."""
    plt = pyplot()

    fig, axes = plt.subplots(1, len(finds), figsize=(5.5 * len(finds), 3.8), squeeze=False)
    for ax, (title, curve) in zip(axes[0], finds):
        ax.plot(curve["lrs"], curve["losses"], alpha=0.3, label="loss")
        ax.plot(curve["lrs"], curve["smoothed"], label="smoothed loss")
        if curve["suggestion"] is not None:
            i = curve["suggestion_index"]
            ax.axvline(curve["suggestion"], color="red", lw=1, ls="--")
            ax.plot([curve["suggestion"]], [curve["smoothed"][i]], "o", color="red",
                    label=f"suggestion ({curve['method']}): {curve['suggestion']:.2g}")
        finite = [v for v in curve["smoothed"] + curve["losses"] if math.isfinite(v)]
        top = max(v for v in curve["smoothed"] if math.isfinite(v))
        ax.set(xscale="log", xlabel=curve["x_axis"], ylabel="loss", title=title[:48],
               ylim=(0.9 * min(finite), 1.2 * top))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _mark_stages(ax, epochs: list[dict]) -> None:
    previous = None
    for e in epochs:
        if e["stage"] != previous:
            ax.axvline(e["epoch"] + 0.5, color="grey", lw=0.8, ls=":")
            ax.annotate(e["stage"][:28], (e["epoch"] + 0.6, 0.02), xycoords=("data", "axes fraction"),
                        rotation=90, fontsize=7, va="bottom", color="grey")
            previous = e["stage"]


def plot_confusion(interp, path: Path) -> Path:
    """The confusion matrix as a heat map with the counts written in."""
    plt = pyplot()

    cm = interp.confusion_matrix().numpy()
    n = len(interp.classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.5 * n, 0.8 + 0.5 * n))
    ax.imshow(cm, cmap="Blues")
    for a in range(n):
        for p in range(n):
            if cm[a, p]:
                ax.text(p, a, str(cm[a, p]), ha="center", va="center", fontsize=8,
                        color="white" if cm[a, p] > cm.max() / 2 else "black")
    ax.set(xticks=range(n), yticks=range(n), xticklabels=interp.classes, yticklabels=interp.classes,
           xlabel="predicted", ylabel="actual", title="Confusion matrix" + (" (TTA)" if interp.tta else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_top_losses(interp, path: Path, k: int = 9) -> Path:
    """The ``k`` validation images with the highest loss: predicted / actual / loss / probability of actual."""
    plt = pyplot()

    rows = interp.top_losses(k)
    cols = 3
    fig, axes = plt.subplots((len(rows) + cols - 1) // cols, cols, figsize=(3 * cols, 3.2 * ((len(rows) + cols - 1) // cols)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, row in zip(axes.flat, rows):
        ax.imshow(interp.image(row["index"]))
        ax.set_title(f"{row['predicted']}/{row['actual']} / {row['loss']:.2f} / {row['prob_actual']:.2f}", fontsize=9)
    fig.suptitle("Top losses: predicted / actual / loss / probability of actual")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(out: str | Path, learn, checklist, extra: dict | None = None, interp=None) -> dict[str, Path]:
    """Write ``checkpoint.pt``, ``metrics.json``, ``training.png``, ``lr_schedule.png``, ``lr_find.png`` and,
    given an :class:`~nbtrainer.results.interpret.Interpretation`, ``confusion.png`` and ``top_losses.png``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"checkpoint": out / "checkpoint.pt", "metrics": out / "metrics.json",
             "training_plot": out / "training.png", "lr_plot": out / "lr_schedule.png",
             "lr_find_plot": out / "lr_find.png", "confusion": out / "confusion.png",
             "top_losses": out / "top_losses.png"}
    finds = [(s.name, s.result["curve"]) for s in checklist.steps if s.status == "done" and "curve" in s.result]
    learn.save(paths["checkpoint"])
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
