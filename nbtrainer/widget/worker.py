"""One background thread for long work, so the notebook's kernel stays free to receive clicks (Stop).

The kernel handles widget messages (a click on Stop, on the LR curve, a slider) on its main thread
only when no cell is running; training on a worker thread keeps it free. Stopping is cooperative:
the job checks a :class:`nbtrainer.train.callbacks.Stopper` at every batch boundary.

Example::

    worker = Worker()
    worker.start(learn.fit, 1e-2, 3)
    worker.join()
    worker.error            # the exception the job raised, or None
"""
from __future__ import annotations

import threading
from collections.abc import Callable


class Worker:
    """Runs one job at a time on a daemon thread; the job's exception is kept in :attr:`error`, not raised."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    @property
    def busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, job: Callable, *args, **kwargs) -> None:
        """Start ``job(*args, **kwargs)``; ``RuntimeError`` if one is still running."""
        if self.busy:
            raise RuntimeError("a step is still running: press Stop or wait for it to finish")
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(job, args, kwargs), name="nbtrainer-worker",
                                       daemon=True)
        self.thread.start()

    def _run(self, job: Callable, args: tuple, kwargs: dict) -> None:
        try:
            job(*args, **kwargs)
        except BaseException as e:  # kept for the caller; a worker thread has nobody to raise to
            self.error = e

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the job; True when no job is running any more."""
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.busy
