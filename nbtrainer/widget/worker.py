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
    """Runs one job at a time on a daemon thread; the job's exception is kept in :attr:`error`, not raised.

    Whether a job runs is its owner's to say (``TrainerModel.busy``, the one busy flag, cleared by the job's
    last act): :meth:`start` waits for the thread of a job that has said it is done but not yet returned."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self, job: Callable, *args, **kwargs) -> None:
        """Start ``job(*args, **kwargs)`` once the previous job's thread has returned."""
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join()
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
        """Wait for the job; True when its thread has returned."""
        if self.thread is not None:
            self.thread.join(timeout)
        return self.thread is None or not self.thread.is_alive()
