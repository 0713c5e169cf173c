"""Small drawing helpers shared by the views."""
from __future__ import annotations

from contextlib import ExitStack, contextmanager


@contextmanager
def hold_all(*widgets):
    """``hold_sync`` on several widgets at once: each sends one message with all its changes at the end."""
    with ExitStack() as stack:
        for widget in widgets:
            stack.enter_context(widget.hold_sync())
        yield
