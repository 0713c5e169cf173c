"""One writer: clicks, slider moves, edits, Run and Back made while a step runs (random ones, hypothesis)
never raise, are queued (edits) or refused (Run, Back) and leave the app's state equal to the engine's."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbtrainer as nbt
from nbtrainer.recipe.summary import lrs_text
from nbtrainer.widget import Trainer

from .conftest import small_learner
from .test_widget import Gate, click_curve, press

ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("click"), st.floats(1e-5, 1.0)),
    st.tuples(st.just("slider"), st.integers(0, 1), st.sampled_from([1.0, 2.0, 3.5, 10.0])),
    st.tuples(st.just("edit"), st.integers(-1, 3)),  # n_cycle of the fit step: 0 and -1 are refused
    st.tuples(st.just("run"), st.integers(0, 1)),
    st.tuples(st.just("back"), st.integers(0, 1)),
), min_size=1, max_size=8)


def _trainer(tmp_path) -> Trainer:
    learn = small_learner(n=80)
    learn.precompute = True  # the head on cached activations: short steps
    steps = [nbt.Step("LR finder", "lr_find", {"num_iter": 20}), nbt.Step("Fit", "fit", {"n_cycle": 1})]
    return Trainer(nbt.Checklist(learn, steps), folder=tmp_path)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(step=st.integers(0, 1), actions=ACTIONS)
def test_actions_while_a_step_runs_are_queued_or_refused_and_the_state_stays_consistent(tmp_path_factory, step,
                                                                                          actions):
    trainer = _trainer(tmp_path_factory.mktemp("writer"))
    model, checklist, learn = trainer.model, trainer.model.checklist, trainer.model.learn
    ratios, n_cycle, picked = list(checklist.ratios), checklist.steps[1].params["n_cycle"], None
    shown = [s.value for s in trainer.sliders.sliders]
    gate = Gate(at=2)
    learn.add_callback(gate)
    first = len(learn.recorder.iterations)
    press(trainer.panel.rows[step].run)
    try:
        assert gate.reached.wait(60)
        running_detail = model.details[step]
        for action in actions:  # what the browser would send, on this (the kernel's) thread
            kind, *args = action
            if kind == "click":
                click_curve(trainer.lr_plot, args[0])
                picked = args[0]
            elif kind == "slider":
                k, value = args
                trainer.sliders.sliders[k].value = value
                if value != shown[k]:
                    shown[k], ratios[k] = value, value
            elif kind == "edit":
                model.set_param(1, "n_cycle", args[0])
                n_cycle = args[0] if args[0] >= 1 else n_cycle
            else:
                press(trainer.panel.rows[args[0]].run if kind == "run" else trainer.panel.rows[args[0]].back)
        assert model.busy and model.running == step
    finally:
        gate.release.set()
    assert model.worker.join(60) and model.worker.error is None
    learn.remove_callback(gate)
    # only the step that was running ran; the edits were applied in order once it ended
    assert [s.status for s in checklist.steps] == ["done" if i == step else "pending" for i in range(2)]
    assert checklist.ratios == ratios and checklist.steps[1].params["n_cycle"] == n_cycle
    if picked is not None:  # a click during a sweep is not overwritten by the sweep's suggestion
        assert checklist.picked_lr == picked and checklist.lr == picked
    # the app shows the engine's state
    assert model.statuses == [s.status for s in checklist.steps] and model.ratios == checklist.ratios
    assert model.lr == checklist.lr and model.picked_lr == checklist.picked_lr
    assert [s.value for s in trainer.sliders.sliders] == checklist.ratios
    if step == 1:  # the running row showed the LRs the fit used
        assert running_detail == "lrs " + lrs_text(learn.recorder.iterations[first]["lrs"])


CLICKS = st.lists(st.one_of(
    st.tuples(st.just("run"), st.integers(0, 2)),
    st.tuples(st.just("run_next")), st.tuples(st.just("run_all")), st.tuples(st.just("stop")),
    st.tuples(st.just("back"), st.integers(0, 2)),
    st.tuples(st.just("click"), st.floats(1e-5, 1.0)),
    st.tuples(st.just("slider"), st.integers(0, 1), st.sampled_from([1.0, 2.0, 3.5, 10.0])),
    st.tuples(st.just("edit"), st.integers(-1, 3)),
    st.tuples(st.just("export")), st.tuples(st.just("show_data")), st.tuples(st.just("refused_upload")),
    st.tuples(st.just("wait"), st.floats(0.0, 0.3)),
), min_size=3, max_size=14)


def _check_invariants(trainer: Trainer) -> None:
    """What must hold between any two messages of the browser, whatever the worker is doing."""
    from nbtrainer.widget.checklist_state import checklist_traits

    model, panel = trainer.model, trainer.panel
    with model._lock:  # every change is made under it: this is a consistent moment
        running = [i for i, s in enumerate(model.statuses) if s == "running"]
        assert len(running) <= 1
        if running:
            assert model.busy and model.running == running[0]
        assert [row.run.disabled for row in panel.rows] == [model.busy] * len(panel.rows)
        assert panel.buttons["stop"].disabled is (not model.busy)
        assert all(row.back.disabled for row in panel.rows) or not model.busy
        if not model.busy:  # idle: no queue, and the app shows exactly the engine's state
            assert model.running == -1 and not model._queued
            shown = {name: getattr(model, name) for name in checklist_traits(model.checklist)}
            assert shown == checklist_traits(model.checklist)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(clicks=CLICKS)
def test_random_clicks_while_steps_run_keep_every_invariant_after_every_action(tmp_path_factory, clicks):
    """Issue 27: one writer for real. Random clicks, with steps starting, running and ending between them;
    after every action the invariants hold, nothing raises into the kernel, and the worker never fails."""
    import time

    learn = small_learner(n=80)
    learn.precompute = True
    steps = [nbt.Step("LR finder", "lr_find", {"num_iter": 20}), nbt.Step("Fit", "fit", {"n_cycle": 1}),
             nbt.Step("Fit again", "fit", {"n_cycle": 2})]
    folder = tmp_path_factory.mktemp("clicks")
    trainer = Trainer(nbt.Checklist(learn, steps, checkpoint_dir=folder / "checkpoints"), folder=folder)
    model, panel = trainer.model, trainer.panel
    for kind, *args in clicks:
        if kind in ("run", "back"):
            press(getattr(panel.rows[args[0]], kind))
        elif kind in ("run_next", "run_all", "stop"):
            press(panel.buttons[kind])
        elif kind == "click":
            click_curve(trainer.lr_plot, args[0])
        elif kind == "slider":
            trainer.sliders.sliders[args[0]].value = args[1]
        elif kind == "edit":
            model.set_param(1, "n_cycle", args[0])
        elif kind == "export":
            trainer.export()
        elif kind == "show_data":
            model.show_data()
        elif kind == "refused_upload":  # what the Pictures button's browser side sends for a too-big choice
            with model._lock:  # (the worker may say something right after: look before it can)
                trainer.data_view.files._receive(None, {"kind": "refused", "big": [["big.png", 9e6]],
                                                        "total": 9e6, "count": 1}, [])
                assert model.message.startswith("not sent: 1 picture(s)")
        else:
            time.sleep(args[0])
        _check_invariants(trainer)
    assert model.worker.join(120) and model.worker.error is None
    _check_invariants(trainer)
    assert not model.busy and "running" not in model.statuses
