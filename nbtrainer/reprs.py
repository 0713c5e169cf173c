"""Rich HTML reprs: what Jupyter shows when an :class:`~nbtrainer.ImageData`, an
:class:`~nbtrainer.LRFinderResult`, an :class:`~nbtrainer.Interpretation` or a :class:`~nbtrainer.Checklist`
is the last expression of a cell (their ``_repr_html_`` call these). Plain HTML tables and inline PNGs: they
need no widget and stay readable in a saved notebook or on GitHub.

Example::

    learn.lr_find()          # in a notebook: the curve, the suggestion and why the sweep stopped
"""
from __future__ import annotations

import html
import math

from .plots import draw_lr_find, figure, png_base64

STYLE = "border-collapse:collapse;font-size:12px"
MAX_CLASSES = 20  # rows of a class table; the rest are counted


def _cell(value, tag: str = "td") -> str:
    return f"<{tag} style='padding:2px 8px;text-align:left'>{html.escape(str(value))}</{tag}>"


def table(headers: list[str], rows: list[list]) -> str:
    """An HTML table (every value escaped)."""
    head = "".join(_cell(h, "th") for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table style='{STYLE}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2%}"


def _img(png: str, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{png}'/>"


def _thumbnails(images, per_row_px: int = 48) -> str:
    """One small PNG strip of ``images`` (H x W x 3 uint8 arrays)."""
    fig, axes = figure(1, len(images), figsize=(0.7 * len(images), 0.8))
    for ax, (title, im) in zip(axes[0], images):
        ax.imshow(im)
        ax.set_title(title[:10], fontsize=6)
        ax.axis("off")
    return _img(png_base64(fig, dpi=per_row_px * 2), "one training image per class")


def image_data_html(data) -> str:
    from .data.overview import class_counts, samples

    counts = class_counts(data).rows()
    rows = [[name, t, v] for name, t, v in counts[:MAX_CLASSES]]
    if len(counts) > MAX_CLASSES:
        rows.append([f"... {len(counts) - MAX_CLASSES} more classes", "", ""])
    shown = samples(data, per_class=1)
    strip = _thumbnails([(c, ims[0]) for c, ims in list(shown.items())[:12] if ims])
    head = (f"{len(data.train)} train / {len(data.valid)} valid images, {data.c} classes, {data.size} px, "
            f"batch {data.bs}, augmentation {'on' if data.augment else 'off'}")
    return f"<div><b>ImageData</b>: {html.escape(head)}<br>{strip}{table(['class', 'train', 'valid'], rows)}</div>"


def lr_find_html(result) -> str:
    fig, ax = figure(figsize=(5.5, 3.5))
    draw_lr_find(ax[0, 0], result.to_dict())
    text = (f"suggestion ({result.method}): {result.suggestion:.3g}" if result.suggestion is not None
            else "no suggestion")
    return (f"<div>{_img(png_base64(fig), 'LR finder curve')}<br>{html.escape(text)}; "
            f"{len(result.lrs)} iterations; stopped: {html.escape(result.stop_reason)}</div>")


def interpretation_html(interp) -> str:
    from .train.metrics import accuracy

    head = (f"<b>Interpretation</b>{' (TTA)' if interp.tta else ''}: accuracy "
            f"{accuracy(interp.probs, interp.targets):.2%} on {len(interp.targets)} validation images")
    confused = interp.most_confused()[:5]
    worst = table(["actual", "predicted", "images"], [list(t) for t in confused]) if confused else "no mistakes"
    per_class = [[r["class"], _pct(r["precision"]), _pct(r["recall"]), r["support"]]
                 for r in interp.per_class()[:MAX_CLASSES]]
    return (f"<div>{head}<br><i>most confused</i>{worst}<i>per class</i>"
            f"{table(['class', 'precision', 'recall', 'images'], per_class)}</div>")


def checklist_html(checklist) -> str:
    from .results.report import detail, lrs_text

    rows = []
    for i, step in enumerate(checklist.steps, 1):
        r = step.result or {}
        seconds = r.get("seconds")
        rows.append([i, step.name, step.status, lrs_text(r["lrs"]) if r.get("lrs") else "-",
                     "-" if seconds is None else f"{seconds:.1f} s", _pct(r.get("accuracy")), detail(r) or "-"])
    done = sum(s.status == "done" for s in checklist.steps)
    head = f"<b>Checklist</b>: {done} of {len(checklist.steps)} steps done"
    return f"<div>{head}{table(['#', 'step', 'status', 'LRs', 'time', 'accuracy', 'result'], rows)}</div>"
