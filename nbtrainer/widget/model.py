"""The trainer's state and actions as a traitlets object, with no widget in it (ipywidgets' "separating
concerns" pattern): views observe its traits and call its methods; it calls the engine.

It runs checklist steps on a :class:`~nbtrainer.widget.worker.Worker` thread with a
:class:`~nbtrainer.train.callbacks.Stopper` (Stop) and a :class:`~nbtrainer.train.live.LiveFeed` (throttled live
data) attached to the learner for the step's duration. Live data arrives in ``lr_update`` /
``fit_update``; the rest of the state (statuses, LRs, ratios, preview) is copied from the checklist
into traits after every change, in one ``hold_trait_notifications`` block (:meth:`sync`).

One writer: the checklist and the state traits change under one lock, on one thread at a time. While a
step runs, edits (a click on the LR curve, a ratio slider, a step's parameter) are **queued** and applied in
order when the step ends (the panel says so); Run, Back, Export and Predict are refused with a message.
So the running fit uses the LRs its row shows, and a sweep's suggestion never overwrites a click made
during the sweep (the click is applied after it).

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
from ..results.report import lrs_text, suggestion_text
from ..train.callbacks import Stopper
from ..train.live import LiveFeed, LiveUpdate, history_update
from ..train.progress import Progress
from .data_actions import DataActions
from .result_actions import ResultActions
from .worker import Worker

log = logging.getLogger(__name__)


class TrainerModel(DataActions, ResultActions, HasTraits):
    """State of the trainer app; every change goes through the checklist (the engine)."""

    statuses = List(Unicode())       # per step: pending / running / done / failed / stopped
    errors = List(Unicode())         # per step: the error message of a failed step, else ""
    details = List(Unicode())        # per step: one line about its result or the LRs it will use
    can_go_back = List(Bool())       # per step: its checkpoint exists
    running = Int(-1)                # index of the running step, -1 when idle
    busy = Bool(False)
    lr = Float(1e-2)                 # the LR (last group) of the next fit
    picked_lr = Float(None, allow_none=True)
    suggested_lr = Float(None, allow_none=True)
    lr_source = Unicode("start")      # where lr comes from: picked, suggested or start (Checklist.lr_source)
    ratios = List(Float())
    group_lrs = List(Float())        # the LRs of the next fit step, per group
    preview = Dict()                 # Checklist.preview(): the next fit's LR per group per iteration
    message = Unicode("")
    lr_update = Dict()               # the latest throttled LiveFeed update of an LR sweep
    fit_update = Dict()              # ... of a fit
    history = Dict()                 # the whole training history (after going back): redraw from it
    lr_curve = Dict()                # the latest finished sweep (LRFinderResult.to_dict())
    revision = Int(0)                # +1 after every sync(): views observe this one trait to redraw once
    progress = Dict()                # the running stage's ProgressInfo (as a dict), throttled
    interpretation = Dict()          # Interpretation.to_dict() of the latest "Interpret"
    prediction = Dict()              # the uploaded picture's label, top classes and pixels (or an error)
    data_overview = Dict()           # class counts, sample images, the augmentation preview (or an error)
    confirm = Dict()                 # the question a write or a new learner waits on ({"text"}), {} when none
    data_root = Unicode("")          # the folder uploads go to and clean-ups change
    generation = Int(0)              # +1 when the checklist is replaced (new data): views rebuild
    aug = Dict()                     # the data's augmentation settings (Augment.to_dict())

    def __init__(self, checklist: Checklist, rate: float = 4.0, data_root: str | Path = "",
                 places: Places | None = None):
        super().__init__()
        self.checklist, self.learn = checklist, checklist.learn
        root = checklist.learn.data.root
        self.data_root = str(Path(root if root is not None else data_root).resolve())
        # the folders this session may use: its own, and the learner's own data folder (the teacher chose it)
        self.places = places or Places(Path(data_root).parent if data_root else Path.cwd(),
                                       writable=[root] if root is not None else [])
        self.worker, self.stopper = Worker(), Stopper()
        self.feed = LiveFeed(self._on_feed, rate=rate)
        self.progress_cb = Progress(self._on_progress, rate=rate)
        self.interp: Interpretation | None = None
        self._seq = itertools.count()
        self._lock = threading.RLock()  # held by whoever changes the checklist or the state traits
        self._queued: list[tuple[str, object, tuple]] = []  # edits made while a step runs
        self.sync()

    def replace(self, checklist: Checklist) -> None:
        """Start again with ``checklist`` (a new learner on new data): its state in the traits, the views
        rebuilt (:attr:`generation`), the live plots and results of the old one cleared."""
        with self._lock:
            self.checklist, self.learn, self.interp, self._queued = checklist, checklist.learn, None, []
            self.generation += 1
            self.sync()

    # ------------------------------------------------------------------ engine -> traits
    def sync(self) -> None:
        """Copy the checklist's state into the traits (observers fire once the block ends)."""
        with self._lock:
            self._sync()

    def _sync(self) -> None:
        c = self.checklist
        preview = c.preview()
        with self.hold_trait_notifications():
            self.statuses = [s.status for s in c.steps]
            self.errors = [s.error for s in c.steps]
            self.details = [self._detail(i) for i in range(len(c.steps))]
            self.can_go_back = [c.can_go_back(i) for i in range(len(c.steps))]
            self.lr, self.picked_lr, self.suggested_lr, self.lr_source = c.lr, c.picked_lr, c.suggested_lr, c.lr_source
            self.ratios = list(c.ratios)
            self.aug = c.learn.data.aug.to_dict()
            self.group_lrs = preview.get("lrs", [])
            self.preview = preview
            if c.lr_finds:
                self.lr_curve = {**c.lr_finds[-1].to_dict(), "seq": len(c.lr_finds)}
            self.revision += 1

    def _detail(self, index: int) -> str:
        step = self.checklist.steps[index]
        lrs = step.result.get("lrs") if step.status in ("done", "stopped") else (
            self.checklist.planned_lrs(step.params) if step.action == "fit" else None)
        text = "lrs " + lrs_text(lrs) if lrs else ""
        r = step.result
        if r.get("accuracy") is not None:
            text += f"{'; ' if text else ''}accuracy {r['accuracy']:.2%}"
        if r.get("kept"):
            text += f"; kept {r['kept']}"
        if step.action == "lr_find" and "suggestion" in r:
            text = suggestion_text(r["suggestion"], r.get("lr"))
        return text

    def _on_feed(self, update: LiveUpdate) -> None:  # called by the LiveFeed, throttled, in the worker thread
        self._publish("lr_update" if update["kind"] == "lr_find" else "fit_update", update)

    def _on_progress(self, info) -> None:  # throttled by the Progress callback, in the worker thread
        self._publish("progress", dataclasses.asdict(info))

    def _publish(self, trait: str, value: dict) -> None:
        """Set a trait the views draw from the worker thread; a drawing error must not stop the training:
        it shows in :attr:`message` and the step goes on."""
        try:
            setattr(self, trait, {**value, "seq": next(self._seq)})
        except Exception as e:
            log.exception("live view update failed")
            self.message = f"live view update failed ({type(e).__name__}: {e}); training goes on"

    # ------------------------------------------------------------------ actions (views call these)
    def run(self, index: int) -> None:
        """Run step ``index`` on the worker thread."""
        self._start(self._run_steps, [index])

    def run_next(self) -> None:
        """Run the first step that is not done."""
        step = self.checklist.next_step()
        if step is None:
            self.message = "every step is done"
            return
        self.run(self.checklist.steps.index(step))

    def run_all(self) -> None:
        """Run every step that is not done, in order, until one fails or Stop is pressed."""
        self._start(self._run_steps, None)

    def _start(self, job, indices) -> None:
        with self._lock:
            if self.busy:
                self.message = "a step is still running: press Stop or wait for it to finish"
                return
            self.stopper.clear()
            self.busy, self.message = True, ""
            self.sync()  # the Run buttons are disabled before the thread starts
            self.worker.start(job, indices)

    def _finish(self) -> None:
        """The end of the worker's job: idle again, then the edits queued meanwhile, in order."""
        with self._lock:
            self.running, self.busy = -1, False
            queued, self._queued = self._queued, []
            for what, action, args in queued:
                try:
                    self._guarded(action, *args)
                except Exception as e:  # the kernel must not see a raise from the worker's thread
                    self.message = f"{what} was not applied: {type(e).__name__}: {e}"
            self.sync()

    def _run_steps(self, indices: list[int] | None) -> None:
        """The worker's job: the given steps, or (None) every step not done, until one is not done."""
        c = self.checklist
        c.on_wait = self._on_wait
        try:
            with self.learn.added_callbacks(self._callbacks()):
                for index in (indices if indices is not None else self._pending_indices()):
                    if self.stopper.requested:
                        break
                    self.running = index
                    c.steps[index].status = "running"
                    self.sync()
                    c.run_step(index)
                    if c.steps[index].action == "fit":  # redraw: the kept cycle end is known once the fit ends
                        self._publish("history", history_update(self.learn.recorder))
                    if c.steps[index].status != "done":
                        break
        except Exception as e:  # the step is marked failed with its error; the kernel must not see a raise
            self.message = f"{type(e).__name__}: {self.places.hide(str(e))}"
        finally:
            self._finish()

    def _on_wait(self, text: str | None) -> None:  # the worker thread: a step waits for the CPU, or it starts
        if text is not None or self.message.startswith("waiting for the CPU"):
            self.message = text or ""

    def _callbacks(self) -> list:
        return [self.stopper, self.feed, self.progress_cb]

    def _pending_indices(self):
        """Indices of the steps not done, looked up one at a time (a step may change what is pending)."""
        while (step := self.checklist.next_step()) is not None:
            yield self.checklist.steps.index(step)

    def stop(self) -> None:
        """Stop the running step at the next batch boundary (the learner stays consistent)."""
        if self.busy:
            self.stopper.request()
            self.message = "stopping at the next batch..."

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
        """Change one augmentation setting of the data (a control of the Data tab)."""
        self._edit(f"{name}={value!r}", lambda: self.checklist.set_aug(**{name: value}))

    def set_param(self, index: int, name: str, value) -> None:
        """Change an editable parameter of step ``index`` (an input in its row)."""
        self._edit(f"{name}={value!r}", self.checklist.set_param, index, name, value)

    def _edit(self, what: str, action, *args) -> None:
        """Apply an edit now, or, while a step runs, queue it for the step's end (and say so)."""
        with self._lock:
            if self.busy:
                self._queued.append((what, action, args))
                self.message = (f"queued until the running step ends: "
                                f"{', '.join(w for w, _, _ in self._queued)}")
                return
            self._guarded(action, *args)

    def go_back(self, index: int) -> None:
        """Return to the state right after step ``index`` (its checkpoint on disk)."""
        with self._lock:
            if self.busy:
                self.message = "wait for the running step to finish (or press Stop) before going back"
                return
            if self._guarded(self.checklist.go_back, index):
                self.history = {**history_update(self.learn.recorder), "seq": next(self._seq)}
                self.message = f"back to the state after step {index + 1}: {self.checklist.steps[index].name}"

    def export(self, path: str | Path) -> Path | None:
        """Write the steps run so far as a Python script (:meth:`Checklist.to_script`)."""
        path = Path(path)
        if self.busy:
            self.message = "wait for the running step to finish (or press Stop) before exporting"
            return None
        code = self._guarded(self.checklist.to_script)
        if code:
            path.write_text(code)
            self.message = f"wrote '{self.places.shown(path)}' (in your session folder)"
            return path
        return None

    def _guarded(self, action, *args):
        """Run an engine call; a bad value shows in :attr:`message` instead of raising into the kernel."""
        try:
            result = action(*args)
        except ValueError as e:
            self.message = str(e)
            self.sync()
            return None
        self.sync()
        return True if result is None else result
