"""Argument checks shared by the public API (one definition; each caller words its own error).

Example::

    if not is_int(num_iter, 10):
        raise ValueError(f"num_iter={num_iter!r}: expected an integer >= 10")
"""
from __future__ import annotations


def is_int(value, low: int) -> bool:
    """``value`` is an ``int`` (``True``/``False`` are not) and at least ``low``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= low
