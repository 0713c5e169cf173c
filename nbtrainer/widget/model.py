"""The trainer's state and actions as a traitlets object, with no widget in it (ipywidgets' "separating
concerns" pattern): views observe its traits and call its methods; it calls the engine.

It runs checklist steps on a :class:`~nbtrainer.widget.worker.Worker` thread with a
:class:`~nbtrainer.train.callbacks.Stopper` (Stop) and a :class:`~nbtrainer.train.live.LiveFeed` (throttled live
data) attached to the learner for the step's duration. Live data arrives in ``lr_update`` /
``fit_update``; the rest of the state (statuses, LRs, ratios, preview) is copied from the checklist
into traits after every change, in one ``hold_trait_notifications`` block (:meth:`sync`).

One writer: every change of a trait or of the checklist goes through :meth:`TrainerModel.write`, under one
lock; the worker thread only posts through it (live data, a step's start and end). While a step runs
(:attr:`~TrainerModel.busy`, the one busy flag) the checklist belongs to the worker: edits (a click on the
LR curve, a ratio slider, a step's parameter) are **queued** and applied in order when the step ends (the
panel says so); Run, Back, the downloads, Try it and data changes are refused with a message. So the running fit
uses the LRs its row shows, and a sweep's suggestion never overwrites a click made during the sweep (the
click is applied after it). The views read the traits only (:mod:`~nbtrainer.widget.checklist_state`
copies the engine's state into them), never the checklist or the learner.

Example::

    model = TrainerModel(Checklist.recipe(learn, checkpoint_dir="session/"))
    model.observe(lambda change: print(change.new), names="statuses")
    model.run(0); model.worker.join()
    model.pick_lr(3e-3)                     # what a click on the LR curve does
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
from pathlib import Path

from traitlets import Bool, Dict, Float, HasTraits, Int, List, Unicode

from ..data.places import Places
from ..recipe.checklist import Checklist
from ..results.interpret import Interpretation
from ..train.callbacks import Stopper
from ..train.live import LiveFeed, LiveUpdate
from ..train.progress import Progress
from .checklist_state import checklist_traits, outcome_message
from .history import history_update
from .data_actions import DataActions
from .result_actions import ResultActions
from .worker import Worker

log = logging.getLogger(__name__)
STOPPING = "stopping at the next batch..."  # the message while a Stop takes effect


class TrainerModel(DataActions, ResultActions, HasTraits):
    """State of the trainer app; every change goes through the checklist (the engine) and :meth:`write`."""

    steps = List(Dict())             # per step: name, action, why, editable params (checklist_state)
    statuses = List(Unicode())       # per step: pending / running / done / failed / stopped
    errors = List(Unicode())         # per step: the error message of a failed step, else ""
    details = List(Unicode())        # per step: one line about its result or the LRs it will use
    can_go_back = List(Bool())       # per step: its checkpoint exists
    running = Int(-1)                # index of the running step, -1 when idle
    busy = Bool(False)               # a job (a step, a folder read, ...) runs on the worker thread
    lr = Float(1e-2)                 # the LR (last group) of the next fit
    picked_lr = Float(None, allow_none=True)
    suggested_lr = Float(None, allow_none=True)
    lr_source = Unicode("start")      # where lr comes from: picked, suggested or start (Checklist.lr_source)
    ratios = List(Float())
    group_names = List(Unicode())    # the learner's layer groups, earliest first
    group_lrs = List(Float())        # the LRs of the next fit step, per group
    preview = Dict()                 # Checklist.preview(): the next fit's LR per group per iteration
    title = Unicode("")              # the body and the data
    plan = Unicode("")               # Checklist.plan
    message = Unicode("")
    lr_update = Dict()               # the latest throttled LiveFeed update of an LR sweep
    fit_update = Dict()              # ... of a fit
    history = Dict()                 # the whole training history (after going back): redraw from it
    lr_curve = Dict()                # the latest finished sweep (LRFinderResult.to_dict())
    revision = Int(0)                # +1 after every copy of the checklist's state: views redraw once
    progress = Dict()                # the running stage's ProgressInfo (as a dict), throttled
    interpretation = Dict()          # Interpretation.to_dict() of the latest "Interpret"
    prediction = Dict()              # the uploaded picture's label, top classes and pixels (or an error)
    data_overview = Dict()           # class counts, sample images, the augmentation preview (or an error)
    confirm = Dict()                 # the question a write or a new learner waits on ({"text"}), {} when none
    data_root = Unicode("")          # the folder uploads go to and clean-ups change
    edits = Int(0)                   # +1 after each clean-up or undo applied to the files
    generation = Int(0)              # +1 when the checklist is replaced (new data): views rebuild
    aug = Dict()                     # the data's augmentation settings (Augment.to_dict())

    def __init__(self, checklist: Checklist, rate: float = 4.0, data_root: str | Path = "",
                 places: Places | None = None):
        super().__init__()
        self.checklist, self.learn = checklist, checklist.learn
        root = checklist.learn.data.root
        # the folders this session may use: its own, and the learner's own data folder (the teacher chose it)
        self.places = places or Places(Path(data_root).parent if data_root else Path.cwd(),
                                       writable=[root] if root is not None else [])
        self.worker, self.stopper = Worker(), Stopper()
        self.feed = LiveFeed(self._on_feed, rate=rate)
        self.progress_cb = Progress(self._on_progress, rate=rate)
        self.interp: Interpretation | None = None
        self._seq = itertools.count()
        self._lock = threading.RLock()  # held by write(): whoever changes the checklist or a trait
        self._queued: list[tuple[str, object, tuple]] = []  # edits made while a step runs
        self.write(sync=True, data_root=str(Path(root if root is not None else data_root).resolve()))

    # ------------------------------------------------------------------ the one writer
    def write(self, change=None, sync: bool = False, **traits) -> None:
        """The one way the app's state changes, from any thread: under the lock, ``change()`` (a change of
        the checklist, if given), then the checklist's state copied into the traits (after a change, or
        with ``sync``), then ``traits`` set; observers hear of it once, when the block ends."""
        with self._lock:
            if change is not None:
                change()
            with self.hold_trait_notifications():
                if change is not None or sync:
                    for name, value in checklist_traits(self.checklist, self.places.hide).items():
                        setattr(self, name, value)
                    self.revision += 1
                for name, value in traits.items():
                    setattr(self, name, value)

    def sync(self) -> None:
        """Copy the checklist's state into the traits."""
        self.write(sync=True)

    def replace(self, checklist: Checklist) -> None:
        """Start again with ``checklist`` (a new learner on new data): its state in the traits, the views
        rebuilt (:attr:`generation`), the live plots and results of the old one cleared."""
        def swap() -> None:
            self.checklist, self.learn, self.interp, self._queued = checklist, checklist.learn, None, []
        self.write(swap, generation=self.generation + 1)

    def _on_feed(self, update: LiveUpdate) -> None:  # called by the LiveFeed, throttled, in the worker thread
        self._publish("lr_update" if update["kind"] == "lr_find" else "fit_update", update)

    def _on_progress(self, info) -> None:  # throttled by the Progress callback, in the worker thread
        # a stage cut short by the Stop button is not an early stop (over-fitting, the budget): the bar tells them apart
        self._publish("progress", {**dataclasses.asdict(info), "stopped": info.finished and self.stopper.requested})

    def _publish(self, trait: str, value: dict) -> None:
        """Post a trait the views draw from the worker thread; a drawing error must not stop the training:
        it shows in :attr:`message` and the step goes on."""
        try:
            self.write(**{trait: {**value, "seq": next(self._seq)}})
        except Exception as e:
            log.exception("live view update failed")
            self.write(message=f"live view update failed ({type(e).__name__}: {e}); training goes on")

    # ------------------------------------------------------------------ the worker's jobs
    def _start(self, job, arg) -> None:
        """Run ``job(arg)`` on the worker thread, unless one runs. The job may return a follow-up, run
        under the lock once it is done (e.g. a question about what it found)."""
        with self._lock:
            if self.busy:
                self.write(message="a step is still running: wait for it to finish, or press Stop in 2. Train")
                return
            self.stopper.clear()
            self.write(sync=True, busy=True, message="")  # the Run buttons are disabled before the thread starts
            self.worker.start(self._job, job, arg)

    def _job(self, job, arg) -> None:
        follow_up = None
        try:
            follow_up = job(arg)
        except Exception as e:  # the kernel must not see a raise from the worker's thread
            self.write(message=f"{type(e).__name__}: {self.places.hide(str(e))}")
        finally:
            self._finish(follow_up)

    def _finish(self, follow_up=None) -> None:
        """The end of the worker's job (the last thing it does): idle again, the edits queued meanwhile
        applied in order, then the job's follow-up."""
        with self._lock:
            self.write(running=-1, busy=False)
            queued, self._queued = self._queued, []
            for what, action, args in queued:
                try:
                    applied = self._guarded(action, *args)
                except Exception as e:  # the kernel must not see a raise from the worker's thread
                    applied = self.write(message=f"{type(e).__name__}: {e}")
                if not applied:
                    self.write(message=f"{what} was not applied: {self.message}")
            if follow_up is not None:
                follow_up()
            self.sync()

    # ------------------------------------------------------------------ actions (views call these)
    def run(self, index: int) -> None:
        """Run step ``index`` on the worker thread."""
        self._start(self._run_steps, [index])

    def run_next(self) -> None:
        """Run the first step that is not done."""
        step = self.checklist.next_step()
        if step is None:
            self.write(message="every step is done")
            return
        self.run(self.checklist.steps.index(step))

    def run_all(self) -> None:
        """Run every step that is not done, in order, until one fails or Stop is pressed."""
        self._start(self._run_steps, None)

    def _run_steps(self, indices: list[int] | None) -> None:
        """The worker's job: the given steps, or (None) every step not done, until one is not done. While it
        runs, the checklist is the worker's: nobody else changes it (see the module's docstring)."""
        c = self.checklist
        c.on_wait = self._on_wait
        with self.learn.added_callbacks(self._callbacks()):
            for index in (indices if indices is not None else self._pending_indices()):
                if self.stopper.requested:
                    break
                self.write(lambda: setattr(c.steps[index], "status", "running"), running=index)
                try:
                    c.run_step(index)
                finally:  # a failed step shows its error; a fit's kept cycle end is known once it ends
                    said = outcome_message(c, index)
                    if said is None and self.message == STOPPING:  # the stop came after the step's end
                        said = ""
                    self.write(sync=True, **({"history": history_update(self.learn.recorder)}
                                             if c.steps[index].action == "fit" else {}),
                               **({} if said is None else {"message": said}))
                if c.steps[index].status != "done":
                    break
        if self.message == STOPPING:  # Stop pressed as one step ended: the next did not start
            self.write(message="stopped: the next step did not start")

    def _on_wait(self, text: str | None) -> None:  # the worker thread: a step waits for the CPU, or it starts
        if text is not None or self.message.startswith("waiting for the CPU"):
            self.write(message=text or "")

    def _callbacks(self) -> list:
        return [self.stopper, self.feed, self.progress_cb]

    def _pending_indices(self):
        """Indices of the steps not done, looked up one at a time (a step may change what is pending)."""
        while (step := self.checklist.next_step()) is not None:
            yield self.checklist.steps.index(step)

    def stop(self) -> None:
        """Stop the running step at the next batch boundary (the learner stays consistent)."""
        with self._lock:
            if self.busy:
                self.stopper.request()
                self.write(message=STOPPING)

    def pick_lr(self, lr: float) -> None:
        """Use ``lr`` for the following fits (a click on the LR-finder curve)."""
        self._edit(f"the LR {lr:.3g}", self.checklist.pick_lr, lr)

    def set_ratio(self, boundary: int, value: float) -> None:
        """Set the LR ratio between group ``boundary`` and the next one (a slider)."""
        self._edit(f"the ratio {value:g}", self._set_one_ratio, boundary, value)

    def _set_one_ratio(self, boundary: int, value: float) -> None:
        ratios = list(self.checklist.ratios)  # read when applied: queued moves of two sliders both count
        ratios[boundary] = value
        self.checklist.set_ratio(ratios)

    def set_aug(self, name: str, value) -> None:
        """Change one augmentation setting of the data (a control of "1. Your pictures")."""
        self._edit(f"{name}={value!r}", lambda: self.checklist.set_aug(**{name: value}))

    def set_param(self, index: int, name: str, value) -> None:
        """Change an editable parameter of step ``index`` (an input in its row)."""
        self._edit(f"{name}={value!r}", self.checklist.set_param, index, name, value)

    def _edit(self, what: str, action, *args) -> None:
        """Apply an edit now, or, while a step runs, queue it for the step's end (and say so)."""
        with self._lock:
            if self.busy:
                self._queued.append((what, action, args))
                self.write(message=f"queued until the running step ends: {', '.join(w for w, _, _ in self._queued)}")
                return
            self._guarded(action, *args)

    def go_back(self, index: int) -> None:
        """Return to the state right after step ``index`` (its checkpoint on disk)."""
        with self._lock:
            if self.busy:
                self.write(message="wait for the running step to finish (or press Stop in 2. Train) before going back")
                return
            if self._guarded(self.checklist.go_back, index):
                self.write(history={**history_update(self.learn.recorder), "seq": next(self._seq)},
                           message=f"back to the state after step {index + 1}: {self.checklist.steps[index].name}")

    def _guarded(self, action, *args):
        """Run an engine call through :meth:`write`; a bad value shows in :attr:`message` instead of raising
        into the kernel (returns None then, else the call's result or True)."""
        out = []
        try:
            self.write(lambda: out.append(action(*args)))
        except ValueError as e:
            self.write(sync=True, message=self.places.hide(str(e)))
            return None
        return True if out[0] is None else out[0]
