"""Small HTML and figure helpers for the rich reprs Jupyter shows (``_repr_html_`` of ImageData,
LRFinderResult, Interpretation, Checklist): escaped tables and inline PNGs, so they need no widget and stay
readable in a saved notebook or on GitHub. Figures are made outside pyplot (the notebook's backend is never
switched, and no figure is left open). Below every layer: it imports nothing of nbtrainer.

Example::

    table(["class", "images"], [["cat", 12], ["dog", 9]])
"""
from __future__ import annotations

import base64
import html
import io
import math

STYLE = "border-collapse:collapse;font-size:12px"
MAX_ROWS = 20  # rows of a per-class table; the rest are counted


def _cell(value, tag: str = "td") -> str:
    return f"<{tag} style='padding:2px 8px;text-align:left'>{html.escape(str(value))}</{tag}>"


def table(headers: list[str], rows: list[list]) -> str:
    """An HTML table (every value escaped)."""
    head = "".join(_cell(h, "th") for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table style='{STYLE}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def escape(text: str) -> str:
    return html.escape(str(text))


def pct(x) -> str:
    """``0.9512`` -> ``95.12%``; ``-`` for None or NaN."""
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2%}"


def figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (6, 4)):
    """A matplotlib figure outside pyplot (files, HTML) and its axes grid (always 2-D)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def png_base64(fig, dpi: int = 80) -> str:
    """The figure as base64 PNG data."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def img(fig, alt: str, dpi: int = 80) -> str:
    """An ``<img>`` holding the figure as an inline PNG."""
    return f"<img alt='{escape(alt)}' src='data:image/png;base64,{png_base64(fig, dpi)}'/>"
