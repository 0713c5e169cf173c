"""Count the widget messages the kernel would send to the browser, without a browser or a kernel.

``comm.create_comm`` is the hook the ``comm`` package provides for this ("intended to be replaced");
inside :func:`recording_comms` every widget created gets a :class:`RecordingComm` that keeps
``(time, comm_id, method)`` of each message instead of dropping it. Used by the tests (throttle) and
the overhead benchmark.

Example::

    with recording_comms() as log:
        trainer = Trainer(learn)
        trainer.model.run(2); trainer.model.worker.join()
    print(len(log.messages), "messages", log.per_comm())
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import contextmanager

import comm
from comm.base_comm import BaseComm


class CommLog:
    """The messages of every :class:`RecordingComm` (thread-safe append)."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, str, str, int]] = []  # (monotonic time, comm id, method, bytes)
        self._lock = threading.Lock()

    def add(self, comm_id: str, method: str, size: int) -> None:
        with self._lock:
            self.messages.append((time.monotonic(), comm_id, method, size))

    def updates(self, since: float = 0.0, until: float = float("inf")) -> list[tuple[float, str, str, int]]:
        """State updates sent to the browser between two ``time.monotonic()`` readings."""
        return [m for m in self.messages if m[2] == "update" and since <= m[0] <= until]

    def per_comm(self, since: float = 0.0, until: float = float("inf")) -> Counter:
        """Update messages per widget (comm id) in the window."""
        return Counter(m[1] for m in self.updates(since, until))


class RecordingComm(BaseComm):
    """A comm that records what it would publish."""

    log: CommLog | None = None

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys) -> None:
        if self.log is not None and msg_type == "comm_msg":
            size = sum(memoryview(b).nbytes for b in buffers or [])
            self.log.add(self.comm_id, (data or {}).get("method", ""), size + len(repr(data)))


@contextmanager
def recording_comms():
    """Widgets created inside the block record their messages in the yielded :class:`CommLog`."""
    log = CommLog()
    previous = comm.create_comm

    def create(*args, **kwargs) -> RecordingComm:
        made = RecordingComm(*args, **kwargs)
        made.log = log
        return made

    comm.create_comm = create
    try:
        yield log
    finally:
        comm.create_comm = previous
