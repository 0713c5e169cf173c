"""The report of a run: the CLI's report folder (metrics JSON, PNG plots of training curves, per-group LRs and
LR-finder curves, the model files) and the same as one self-contained HTML page (:func:`report_html`: what the
app's Report download and ``report.html`` hold). Above the recipe (it reports a checklist's run), beside the widget.

The plots are drawn by :mod:`nbtrainer.present.plots` on figures outside pyplot (the notebook's backend is left alone).

Example::

    write_report("nbtrainer-out", learn, checklist, baseline=0.992)
"""
from __future__ import annotations

import json
from pathlib import Path

from .present.html import escape, figure, img
from .present.plots import draw_accuracy, draw_losses, draw_lr_find, draw_lrs
from .recipe.summary import summary_rows
from .train.checkpoint import versions


def _save(fig, path: Path, dpi: int = 100) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path


def training_figure(recorder):
    """Training loss per iteration (smoothed), validation loss and accuracy per epoch; stages marked."""
    fig, ax = figure(1, 2, figsize=(11, 4))
    draw_losses(ax[0, 0], recorder)
    draw_accuracy(ax[0, 1], recorder)
    fig.tight_layout()
    return fig


def lr_schedule_figure(recorder, group_names: list[str]):
    """Each layer group's LR per iteration (log scale): SGDR cycles and differential LRs."""
    fig, ax = figure(figsize=(11, 3.5))
    draw_lrs(ax[0, 0], recorder, group_names)
    fig.tight_layout()
    return fig


def lr_finds_figure(finds: list[tuple[str, dict]]):
    """One panel per LR-finder sweep: raw and smoothed loss against the LR (log), the suggestion marked."""
    fig, axes = figure(1, len(finds), figsize=(5.5 * len(finds), 3.8))
    for ax, (title, curve) in zip(axes[0], finds):
        draw_lr_find(ax, curve, title)
    fig.tight_layout()
    return fig


def plot_training(recorder, path: Path) -> Path:
    return _save(training_figure(recorder), path)


def plot_lr_schedule(recorder, group_names: list[str], path: Path) -> Path:
    return _save(lr_schedule_figure(recorder, group_names), path)


def plot_lr_finds(finds: list[tuple[str, dict]], path: Path) -> Path:
    return _save(lr_finds_figure(finds), path)


def lr_find_curves(checklist) -> list[tuple[str, dict]]:
    """(step name, curve) of every LR range test the checklist ran."""
    return [(s.name, s.result["curve"]) for s in checklist.steps if s.status == "done" and "curve" in s.result]


def report_html(learn, checklist, title: str = "nbtrainer report") -> str:
    """The run as one HTML page that needs nothing else (its plots inline, no link to another host): the data,
    the checklist's steps with their results, the training curves, the LRs and the LR range tests.

    Example::

        Path("report.html").write_text(report_html(learn, checklist))
    """
    from .recipe.summary import checklist_html

    data = learn.data
    parts = [f"<h1>{escape(title)}</h1>",
             f"<p>{escape(str(learn.config['arch']))} on {escape(data.counts())}, "
             f"{len(data.classes)} classes: {escape(', '.join(data.classes))}; images of {data.size} px.</p>",
             checklist_html(checklist)]
    if learn.recorder.iterations:
        parts += ["<h2>Training</h2>", img(training_figure(learn.recorder), "training curves"),
                  "<h2>Learning rates</h2>", img(lr_schedule_figure(learn.recorder, learn.group_names),
                                                 "each layer group's learning rate")]
    finds = lr_find_curves(checklist)
    if finds:
        parts += ["<h2>LR range tests</h2>", img(lr_finds_figure(finds), "LR range tests")]
    return ("<!doctype html>\n<html><head><meta charset='utf-8'><title>" + escape(title) + "</title></head>"
            "<body style='font-family:sans-serif'>" + "\n".join(parts) + "</body></html>\n")


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
    """Write ``checkpoint.pt`` (to train on), ``model.safetensors`` (to share), ``metrics.json``, ``training.png``,
    ``lr_schedule.png``, ``lr_find.png``, ``report.html`` (:func:`report_html`) and,
    given an :class:`~nbtrainer.results.interpret.Interpretation`, ``confusion.png`` and ``top_losses.png``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"checkpoint": out / "checkpoint.pt", "model": out / "model.safetensors", "metrics": out / "metrics.json",
             "training_plot": out / "training.png", "lr_plot": out / "lr_schedule.png",
             "lr_find_plot": out / "lr_find.png", "confusion": out / "confusion.png",
             "top_losses": out / "top_losses.png"}
    finds = lr_find_curves(checklist)
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
    paths["report"] = out / "report.html"
    paths["report"].write_text(report_html(learn, checklist))
    return {k: p for k, p in paths.items() if p.exists()}
