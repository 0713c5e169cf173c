"""matplotlib drawings of training results, each onto an ``Axes`` it is given: the report's PNG files, the
notebook plots (``LRFinderResult.plot()``, ``learn.recorder.plot_loss()``) and the HTML reprs draw with the
same functions.

Files and reprs draw on figures outside pyplot (:func:`nbtrainer.present.html.figure`: the user's backend is never
switched, so writing a report in a notebook leaves its inline plots alone); notebook plots go through pyplot,
so they show under the cell like fastai's. matplotlib is imported on first use: importing nbtrainer stays fast.

Example::

    ax = axes()                       # a new pyplot figure (shown inline in a notebook)
    draw_lr_find(ax, learn.lr_find().to_dict())
"""
from __future__ import annotations

import math

from .smoothing import smooth


def axes(ax=None, figsize: tuple[float, float] = (6, 4)):
    """``ax``, or the axes of a new pyplot figure (the notebook shows it under the cell)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]


def draw_lr_find(ax, curve: dict, title: str | None = None) -> None:
    """Raw and smoothed loss against the LR (log x), the suggestion marked (``curve``: LRFinderResult.to_dict())."""
    ax.plot(curve["lrs"], curve["losses"], alpha=0.3, label="loss")
    ax.plot(curve["lrs"], curve["smoothed"], label="smoothed loss")
    if curve["suggestion"] is not None:
        i = curve["suggestion_index"]
        ax.axvline(curve["suggestion"], color="red", lw=1, ls="--")
        ax.plot([curve["suggestion"]], [curve["smoothed"][i]], "o", color="red",
                label=f"suggestion ({curve['method']}): {curve['suggestion']:.2g}")
    finite = [v for v in curve["smoothed"] + curve["losses"] if math.isfinite(v)]
    top = max((v for v in curve["smoothed"] if math.isfinite(v)), default=1.0)
    ax.set(xscale="log", xlabel=curve["x_axis"], ylabel="loss", title=(title or "LR finder")[:48],
           ylim=(0.9 * min(finite, default=0.0), 1.2 * top))
    ax.legend(fontsize=8)


def draw_losses(ax, recorder) -> None:
    """Training loss per iteration (raw and smoothed) and validation loss at each epoch's end (log y)."""
    its = recorder.iterations
    losses = [r["loss"] for r in its]
    ax.plot(losses, alpha=0.3, label="train loss (batch)")
    ax.plot(smooth(losses), label="train loss (smoothed)")
    ends = [sum(1 for r in its if r["epoch"] <= e["epoch"]) for e in recorder.epochs]
    ax.plot(ends, [e["valid_loss"] for e in recorder.epochs], "o-", label="valid loss")
    ax.set(xlabel="iteration", ylabel="loss", yscale="log", title="Loss")
    ax.legend()


def draw_accuracy(ax, recorder) -> None:
    """Validation accuracy per epoch; cycle ends and the kept weights marked, stages labelled."""
    epochs = recorder.epochs
    ax.plot([e["epoch"] + 1 for e in epochs], [e["accuracy"] for e in epochs], "o-")
    ends = [e for e in epochs if e.get("cycle_end")]
    ax.plot([e["epoch"] + 1 for e in ends], [e["accuracy"] for e in ends], "s", mfc="none", ms=9, label="cycle end")
    kept = [e for e in epochs if e.get("kept")]
    ax.plot([e["epoch"] + 1 for e in kept], [e["accuracy"] for e in kept], "*", ms=14, label="kept")
    ax.legend(fontsize=8)
    ax.set(xlabel="epoch", ylabel="valid accuracy", title="Validation accuracy")
    previous = None
    for e in epochs:
        if e["stage"] != previous:
            ax.axvline(e["epoch"] + 0.5, color="grey", lw=0.8, ls=":")
            ax.annotate(e["stage"][:28], (e["epoch"] + 0.6, 0.02), xycoords=("data", "axes fraction"),
                        rotation=90, fontsize=7, va="bottom", color="grey")
            previous = e["stage"]
    ax.grid(alpha=0.3)


def draw_lrs(ax, recorder, group_names: list[str]) -> None:
    """Each layer group's LR per iteration (log y): SGDR cycles and differential LRs."""
    for g, name in enumerate(group_names):
        ax.plot([r["lrs"][g] for r in recorder.iterations], label=name)
    ax.set(xlabel="iteration", ylabel="learning rate", yscale="log", title="Learning rate per layer group (SGDR)")
    ax.legend()
