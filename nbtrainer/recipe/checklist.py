"""The course's checklist as data: ordered steps, each with parameters, a status and a result.

Each step names an *action* (a function in :data:`nbtrainer.recipe.actions.ACTIONS`) and its parameters;
running a step calls the action on the learner and records the status (pending/running/done/failed/stopped), the seconds
it took and the action's result (LRs used, valid loss, accuracy, the LR-finder curve...). Views (the
CLI, the notebook widget) render steps; they never hold training logic.

Learning rates: a fit step's ``lr`` parameter of ``None`` means "the checklist's current LR"
(:attr:`Checklist.lr`): the LR the user picked (:meth:`Checklist.pick_lr`, e.g. a click on the
LR-finder curve) or else the latest lr_find suggestion, or else the starting ``lr``. A new lr_find
clears the pick. Differential steps use ``[lr / ratio**(n-1), ..., lr / ratio, lr]``.

Example::

    checklist = Checklist.recipe(learn)
    checklist.run()                           # every pending step, headless
    for step in checklist.steps: print(step.name, step.status, step.result)
"""
from __future__ import annotations

import dataclasses
import os
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from ..data.image_data import ImageData
from ..data.transforms import Augment
from ..cpu_queue import WaitCancelled, ordinal, shared_cpu
from ..distributed import current
from ..train.callbacks import CancelFitException, Stopper
from ..train.learner import MIN_MODEL_SIZE, Learner
from ..train.schedule import cycle_starts, preview_lrs
from . import step_checkpoints
from .actions import ACTIONS, EDITABLE, check_ratios, differential_lrs, editable_params
from .settings import RecipeSettings, Step, check_sizes, plan_data, plan_text, recipe_steps, test_note
from .test_scores import test_scores

__all__ = ["Checklist", "Step", "differential_lrs"]


class Checklist:
    """The steps of the recipe for one learner, run in order, headless.

    Args:
        learn: the learner the steps act on.
        steps: the steps, in order.
        lr: the LR of the last layer group until an lr_find suggests one (or the user picks one). Default: 1e-2.
        ratio: each layer group's LR is ``ratio`` times lower than the next one's; one number or one per
            boundary between groups. Default: 3.
        checkpoint_dir: if given, the learner is saved there after every done step (``step-NN.pt``), so
            :meth:`go_back` can return to it. Default: None (no step checkpoints).

    Running a step makes the steps after it pending again: the list always describes the model at hand.
    ``history`` lists what was run, in order, with the LRs actually used (:meth:`to_script` replays it).
    """

    def __init__(self, learn: Learner, steps: list[Step], lr: float = 1e-2, ratio: float | Sequence[float] = 3.0,
                 checkpoint_dir: str | os.PathLike | None = None):
        unknown = [s.action for s in steps if s.action not in ACTIONS]
        if unknown:
            raise ValueError(f"unknown step action(s) {unknown}; expected one of {sorted(ACTIONS)}")
        learn.group_lrs(lr)  # the same checks as fit: positive and finite
        self.learn, self.steps, self.start_lr = learn, steps, float(lr)
        # told while a step waits for its turn at the CPU (nbtrainer.cpu_queue), then None when it starts
        self.on_wait: Callable[[str | None], None] = lambda text: None
        self.set_ratio(ratio)
        self.suggested_lr: float | None = None  # the latest lr_find suggestion
        self.picked_lr: float | None = None     # the user's choice (a click on the curve), until the next lr_find
        self.lr_finds: list = []                # every LRFinderResult, in order
        self.history: list[dict] = []           # {"index", "action", "params", "result"} of each step run
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.plan = ""                          # why these sizes and epochs (Checklist.recipe's plan)
        self.recipe_args: dict | None = None    # Checklist.recipe's arguments (with_data plans again with them)
        self.budget: float | None = None        # seconds the steps may take from the first one run (None: no limit)
        self.clock_start: float | None = None   # time.monotonic() when the first step ran

    @property
    def lr(self) -> float:
        """The LR the next fit step uses (last group): picked, else the latest suggestion, else ``lr``."""
        return self.picked_lr or self.suggested_lr or self.start_lr

    @property
    def lr_source(self) -> str:
        """Where :attr:`lr` comes from: ``"picked"``, ``"suggested"`` or ``"start"``."""
        return "picked" if self.picked_lr else "suggested" if self.suggested_lr else "start"

    @property
    def sizes(self) -> list[int]:
        """The image sizes the steps train at, in order (e.g. ``[128, 224]`` with progressive resizing)."""
        return [s.params["size"] for s in self.steps if s.params.get("size")]

    def pick_lr(self, lr: float) -> None:
        """Use ``lr`` for the following fit steps (until the next lr_find)."""
        self.picked_lr = self.learn.group_lrs(lr)[-1]

    def set_ratio(self, ratio: float | Sequence[float]) -> None:
        """Set the differential-LR ratios (one number for every boundary, or one per boundary); pending
        "differential" steps will apply the same ratios."""
        self.ratios = check_ratios(ratio, len(self.learn.layer_groups))
        for step in self.steps:
            if step.action == "differential" and step.status != "done":
                step.params["ratio"] = list(self.ratios)

    def planned_lrs(self, params: dict) -> list[float]:
        """The group LRs a fit step with ``params`` would use now (its own ``lr`` or :attr:`lr`; differential
        steps spread it with :attr:`ratios`)."""
        lr = params.get("lr") or self.lr
        n = len(self.learn.layer_groups)
        return differential_lrs(lr, n, self.ratios) if params.get("differential") else self.learn.group_lrs(lr)

    def next_fit(self) -> Step | None:
        """The first fit step that is not done (the one the differential-LR preview describes)."""
        return next((s for s in self.steps if s.action == "fit" and s.status != "done"), None)

    def preview(self, step: Step | None = None) -> dict:
        """What a fit step (default: :meth:`next_fit`) would do now: its group LRs and each group's LR per
        iteration over the whole fit (SGDR with the step's cycle_len/cycle_mult); empty without a fit step."""
        step = step or self.next_fit()
        if step is None:
            return {}
        p = step.params
        lrs = self.planned_lrs(p)
        cycles = (p.get("n_cycle", 1), p.get("cycle_len", 1), p.get("cycle_mult", 1))
        return {"step": self.steps.index(step), "lrs": lrs, "iters_per_epoch": self.learn.data.train_batches,
                "restarts": [e * self.learn.data.train_batches for e in cycle_starts(*cycles)],
                "series": preview_lrs(lrs, self.learn.data.train_batches, *cycles, warmup=p.get("warmup", 0.0))}

    def set_param(self, step: Step | int, name: str, value) -> None:
        """Change one parameter of a step (e.g. from the widget), checked like the learner checks it."""
        step = self.steps[step] if isinstance(step, int) else step
        editable = editable_params(step)
        if name not in editable:
            raise ValueError(f"{name!r} is not an editable parameter of '{step.name}'; expected one of "
                             f"{sorted(editable)}")
        EDITABLE[step.action][name][1](value)
        step.params[name] = value

    def set_aug(self, **settings) -> None:
        """Change the data's augmentation settings (fields of :class:`~nbtrainer.Augment`, checked); the change
        is kept in :attr:`history` so the exported script makes it too."""
        unknown = sorted(set(settings) - set(Augment.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown augmentation setting(s) {unknown}; expected some of "
                             f"{sorted(Augment.__dataclass_fields__)}")
        aug = dataclasses.replace(self.learn.data.aug, **settings)
        if aug != self.learn.data.aug:
            self.learn.data.aug = aug
            self.history.append({"index": -1, "action": "augment_settings", "name": "augmentation settings",
                                 "params": aug.to_dict(), "result": {}})

    def record_lr_find(self, result, lr: float | None = None) -> None:
        """Keep a sweep; ``lr`` (default: its suggestion), if any, becomes the LR and clears an earlier pick."""
        self.lr_finds.append(result)
        lr = result.suggestion if lr is None else lr
        if lr is not None:
            self.suggested_lr, self.picked_lr = lr, None

    @classmethod
    def recipe(cls, learn: Learner, size: int | str | None = None, final_size: int | None = None,
               checkpoint_dir: str | os.PathLike | None = None, bs: int | str | None = None,
               **settings) -> "Checklist":
        """The course checklist (``course-notes.txt``), in order (see :func:`nbtrainer.recipe.settings.recipe_steps`):

        precompute; lr_find; train the head on the cache (``head_cycles`` epochs); train the head with
        augmentation (``aug_cycles`` cycles of 1 epoch); unfreeze; differential LRs (``ratio``); lr_find
        again; train everything with cycle_mult=2 until over-fitting (at most ``unfrozen_cycles``: 1+2+4...
        epochs); progressive resize to ``final_size`` (skipped if None); test-time augmentation.
        ``size``: pixels, None (the data's size) or ``"auto"``: the sizes from the images themselves
        (:func:`nbtrainer.data.sizes.plan_sizes`; ``final_size`` then too, unless given: 0 for none).
        ``settings``: fields of :class:`~nbtrainer.recipe.settings.RecipeSettings` (their defaults are
        ``nbtrainer run``'s). ``checkpoint_dir``: see :class:`Checklist`. ``bs``: None (the data's), a number, or
        ``"auto"`` (smaller for a small folder: :func:`~nbtrainer.data.sizes.plan_batch_size`). :attr:`plan` says why.
        """
        unknown = sorted(set(settings) - set(RecipeSettings.names()))
        if unknown:
            raise ValueError(f"Checklist.recipe: unknown setting(s) {unknown}; expected some of "
                             f"{RecipeSettings.names()}")
        s = RecipeSettings(**settings)
        check_sizes(size, final_size, MIN_MODEL_SIZE, bs)  # before any work
        plan = plan_data(learn.data, size, final_size, bs, current().world_size)
        if plan.bs is not None:
            learn.data.bs = plan.bs
        checklist = cls(learn, recipe_steps(s, plan.size, plan.final_size), s.lr, s.ratio, checkpoint_dir)
        checklist.plan = plan_text(s, plan.size, plan.final_size, plan.why) + test_note(learn.data)
        checklist.recipe_args = {"size": size, "final_size": final_size, "bs": bs, **settings}
        checklist.budget = None if s.budget is None else 60.0 * s.budget
        return checklist

    def with_data(self, data: ImageData, checkpoint_dir: str | os.PathLike | None = None) -> "Checklist":
        """The same recipe started again on ``data`` (new images, or the same folder after a clean-up): a new
        learner with this one's settings (architecture, optimizer, seed...) and its activation cache, every
        step pending. A checklist made by :meth:`recipe` plans its sizes, batch size and epochs again for the new
        images (from the images, unless its sizes or batch size were given as numbers)."""
        learn = self.learn
        new = Learner(data, **{**learn.config, "ps": tuple(learn.config["ps"])}, device=str(learn.device),
                      cache=learn.cache)
        if self.recipe_args is not None:
            args = dict(self.recipe_args)
            args["size"] = "auto" if args.get("size") is None else args["size"]
            args["bs"] = "auto" if args.get("bs") is None else args["bs"]
            return Checklist.recipe(new, checkpoint_dir=checkpoint_dir, **args)
        steps = [Step(s.name, s.action, dict(s.params), s.why) for s in self.steps]
        return Checklist(new, steps, self.start_lr, self.ratios, checkpoint_dir)

    def pending(self) -> list[Step]:
        return [s for s in self.steps if s.status != "done"]

    def next_step(self) -> Step | None:
        """The first step that is not done, or None."""
        return next(iter(self.pending()), None)

    def run_step(self, step: Step | int) -> Step:
        """Run one step; its status ends done, failed (error kept) or stopped (a cancelled fit or sweep).
        The steps after it become pending again."""
        step = self.steps[step] if isinstance(step, int) else step
        index = self.steps.index(step)
        for later in self.steps[index + 1:]:
            if later.status != "pending":
                later.status, later.result, later.error = "pending", {}, ""
        step.status, step.error, step.result = "running", "", {}
        params = dict(step.params)
        start = time.perf_counter()
        self.learn.recorder.stage = step.name
        try:  # one step at a time on this machine's CPU (nbtrainer.cpu_queue)
            with shared_cpu(self.learn.device.type, current().world_size, self._stop_requested, self._waiting):
                self.on_wait(None)
                self.clock_start = self.clock_start or time.monotonic()  # the budget's clock: after any wait
                step.result = ACTIONS[step.action](self.learn, self, params)
                step.result.update(test_scores(self.learn, step))
        except (CancelFitException, WaitCancelled):  # Stop outside a fit's own handling: precompute, TTA, a wait
            step.result = {"cancelled": True}
        except Exception as e:
            step.status, step.error = "failed", f"{type(e).__name__}: {e}"
            step.result = {"seconds": time.perf_counter() - start, "traceback": traceback.format_exc()}
            raise
        step.result["seconds"] = time.perf_counter() - start
        step.status = "stopped" if step.result.get("cancelled") else "done"
        self.history.append({"index": index, "action": step.action, "name": step.name, "params": params,
                             "result": {k: v for k, v in step.result.items() if k != "curve"}})
        if step.status == "done" and self.checkpoint_dir is not None:
            step_checkpoints.save(self, index, self.checkpoint_path(index))
        return step

    def time_left(self, params: dict) -> dict:
        """``{"budget": seconds}`` for a fit step that keeps to the run's budget (``params["budget"]``); a budget
        spent leaves a fit its first cycle only (a fit runs one at least); else ``{}``."""
        if not params.get("budget") or self.budget is None:
            return {}
        spent = time.monotonic() - (self.clock_start or time.monotonic())
        return {"budget": max(1e-6, self.budget - spent)}

    def _stop_requested(self) -> bool:
        return any(isinstance(cb, Stopper) and cb.requested for cb in self.learn.callbacks)

    def _waiting(self, place: int) -> None:
        self.on_wait(f"waiting for the CPU: {ordinal(place)} in line (another training on this machine runs "
                     "first; each step runs alone, so that none slows the others)")

    def run(self) -> "Checklist":
        """Run every step that is not done yet, in order."""
        for step in self.pending():
            self.run_step(step)
        return self

    # ------------------------------------------------------------------ going back, taking it home
    def checkpoint_path(self, index: int) -> Path:
        if self.checkpoint_dir is None:
            raise ValueError("this checklist keeps no step checkpoints: create it with checkpoint_dir=...")
        return self.checkpoint_dir / f"step-{index:02d}.pt"

    def can_go_back(self, index: int) -> bool:
        return (self.checkpoint_dir is not None and self.steps[index].status == "done"
                and self.checkpoint_path(index).is_file())

    def state_dict(self) -> dict:
        """What running steps changes of the checklist (besides its learner), as a step checkpoint keeps it:
        each step's status, result and error, the LRs, ratios, and the lengths of its logs (they only grow).
        Example: ``saved = checklist.state_dict(); checklist.run_step(3); checklist.load_state_dict(saved)``."""
        return {"steps": [{"status": s.status, "result": s.result, "error": s.error} for s in self.steps],
                "suggested_lr": self.suggested_lr, "picked_lr": self.picked_lr, "ratios": list(self.ratios),
                "history": len(self.history), "lr_finds": len(self.lr_finds)}

    def load_state_dict(self, state: dict) -> None:
        """Put back what :meth:`state_dict` read."""
        for step, saved in zip(self.steps, state.get("steps", [])):
            step.status, step.result, step.error = saved["status"], saved["result"], saved["error"]
        self.suggested_lr, self.picked_lr = state["suggested_lr"], state["picked_lr"]
        self.set_ratio(state["ratios"])  # the pending differential step's too
        del self.history[state["history"]:]
        del self.lr_finds[state["lr_finds"]:]

    def go_back(self, index: int) -> None:
        """Return the learner (weights, optimizer, freezing, size, history, RNG) and the checklist (LRs,
        ratios, statuses) to the state right after step ``index``; the steps after it become pending."""
        if not self.can_go_back(index):
            raise ValueError(f"step {index} ('{self.steps[index].name}') has no checkpoint to go back to: "
                             f"expected a done step of a checklist with checkpoint_dir")
        step_checkpoints.load(self, index, self.checkpoint_path(index))
        for later in self.steps[index + 1:]:  # (as they were then; older step checkpoints lack the steps)
            later.status, later.result, later.error = "pending", {}, ""

    def _repr_html_(self) -> str:
        """A table of the steps with their status and results (Jupyter shows it for a bare ``checklist``)."""
        from .summary import checklist_html

        return checklist_html(self)

    def to_script(self, data_code: str | None = None, save: str | None = None) -> str:
        """A Python script over the headless API that replays :attr:`history` with the LRs actually used.
        See :func:`nbtrainer.recipe.script.checklist_script`."""
        from .script import checklist_script

        return checklist_script(self, data_code, save)
