"""The notebook widget driven as a user drives it: buttons clicked, the LR curve clicked (the message
bqplot's browser side sends), sliders moved, Stop pressed; the engine's state checked after each."""
from __future__ import annotations

import io
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

import nbtrainer as nbt
from nbtrainer.widget import LRPlot, Trainer
from .traffic import recording_comms

from .conftest import FAST_RECIPE as FAST, digit_png, small_learner


def click_curve(plot: LRPlot, lr: float, loss: float = 1.0) -> None:
    """What the browser sends when the user clicks the plot area at (lr, loss): the click-to-add scatter's
    new x/y arrays, as binary buffers, through the widget's message handler."""
    x = np.append(np.asarray(plot.picker.x, dtype=float), lr)
    y = np.append(np.asarray(plot.picker.y, dtype=float), loss)
    state = {k: {"dtype": "float64", "shape": [len(v)], "value": None} for k, v in (("x", x), ("y", y))}
    plot.picker._handle_msg({"content": {"data": {"method": "update", "state": state,
                                                  "buffer_paths": [["x", "value"], ["y", "value"]]}},
                             "buffers": [memoryview(x.tobytes()), memoryview(y.tobytes())]})


def press(button) -> None:
    button.click()


def run_and_wait(trainer: Trainer, index: int) -> None:
    press(trainer.panel.rows[index].run)
    assert trainer.model.worker.join(timeout=120)


def fit_lrs(learn, first_iteration: int) -> list[float]:
    return learn.recorder.iterations[first_iteration]["lrs"]


class Gate(nbt.Callback):
    """Holds the training thread at the ``at``-th ``event`` (a batch by default) until released, so a test
    can look at a running step."""

    def __init__(self, at: int = 2, event: str = "after_batch"):
        self.at, self.batches, self.reached, self.release = at, 0, threading.Event(), threading.Event()
        self.thread: threading.Thread | None = None  # the thread the step ran on
        setattr(self, event, self._hold)

    def _hold(self):
        self.batches += 1
        if self.batches == self.at:
            self.thread = threading.current_thread()
            self.reached.set()
            assert self.release.wait(60)


def stop_while_held(trainer: Trainer, learn, at: int, event: str = "after_batch", while_held=None) -> None:
    """Run the only step, hold it at its ``at``-th ``event``, call ``while_held()``, press Stop, let it go,
    wait for the end."""
    gate = Gate(at, event)
    learn.add_callback(gate)
    press(trainer.panel.rows[0].run)
    try:
        assert gate.reached.wait(60)
        if while_held is not None:
            while_held()
        press(trainer.panel.buttons["stop"])
    finally:
        gate.release.set()  # a failed check does not leave the worker held
    assert trainer.model.worker.join(60)
    learn.remove_callback(gate)


def test_run_buttons_run_steps_off_the_main_thread_and_show_statuses(tmp_path):
    learn = small_learner(n=100)
    trainer = Trainer(learn, folder=tmp_path, **FAST)
    run_and_wait(trainer, 0)  # precompute
    assert learn.precompute and trainer.model.statuses[0] == "done"
    assert "nbt-status-done" in trainer.panel.rows[0]._dom_classes

    gate = Gate()
    learn.add_callback(gate)
    press(trainer.panel.rows[2].run)  # the head on the cache, held at its 2nd batch
    assert gate.reached.wait(60)
    assert trainer.model.statuses[2] == "running" and "nbt-status-running" in trainer.panel.rows[2]._dom_classes
    assert all(row.run.disabled for row in trainer.panel.rows) and not trainer.panel.buttons["stop"].disabled
    assert gate.thread is trainer.model.worker.thread is not threading.current_thread()
    gate.release.set()
    assert trainer.model.worker.join(60)
    assert trainer.model.statuses[2] == "done" and not any(row.run.disabled for row in trainer.panel.rows)
    assert trainer.panel.buttons["stop"].disabled


@pytest.mark.parametrize("trait", ["progress", "fit_update"])
def test_a_view_that_fails_to_draw_does_not_stop_the_step(tmp_path, trait):
    learn = small_learner(n=100)
    trainer = Trainer(nbt.Checklist(learn, [nbt.Step("Fit", "fit", {"n_cycle": 1})]), folder=tmp_path)

    def broken_view(change):
        raise RuntimeError("cannot draw")

    trainer.model.observe(broken_view, names=trait)
    run_and_wait(trainer, 0)
    assert trainer.model.statuses == ["done"] and len(learn.recorder.epochs) == 1
    assert "live view update failed (RuntimeError: cannot draw); training goes on" in trainer.model.message


def test_a_failed_step_shows_its_error_in_its_row(tmp_path):
    learn = small_learner(n=60)
    checklist = nbt.Checklist(learn, [nbt.Step("too small", "fit", {"size": 8})])
    trainer = Trainer(checklist, folder=tmp_path)
    run_and_wait(trainer, 0)
    assert trainer.model.statuses == ["failed"]
    assert "size=8" in trainer.panel.rows[0].error.value and "nbt-status-failed" in trainer.panel.rows[0]._dom_classes


def test_a_click_on_the_lr_curve_sets_the_lr_of_the_next_fit(tmp_path):
    learn = small_learner(n=100)
    trainer = Trainer(learn, folder=tmp_path, **FAST)
    run_and_wait(trainer, 0)
    run_and_wait(trainer, 1)  # lr_find: the curve is drawn, the suggestion marked
    suggestion = trainer.model.suggested_lr
    assert suggestion and len(trainer.lr_plot.smoothed.x) == len(trainer.model.checklist.lr_finds[-1].lrs)
    assert list(trainer.lr_plot.suggestion.x) == [suggestion]

    click_curve(trainer.lr_plot, 2.5e-3)
    assert trainer.model.picked_lr == pytest.approx(2.5e-3) and trainer.model.lr == pytest.approx(2.5e-3)
    assert list(trainer.lr_plot.rule.x) == pytest.approx([2.5e-3, 2.5e-3])
    assert "Chosen LR: 0.0025" in trainer.lr_plot.label.value
    assert "0.0025" in trainer.panel.next_lr.value and "clicked" in trainer.panel.next_lr.value
    assert "0.0025" in trainer.panel.rows[2].detail.value  # the head fit's row shows the LR it will use

    click_curve(trainer.lr_plot, 4e-3)  # a second click replaces the first
    first = len(learn.recorder.iterations)
    run_and_wait(trainer, 2)
    assert fit_lrs(learn, first) == pytest.approx([4e-3] * 3)
    assert list(trainer.lr_plot.picker.x) == pytest.approx([4e-3])


def test_ratio_sliders_set_the_group_lrs_of_the_next_fit_and_its_preview(tmp_path):
    learn = small_learner(n=100)
    steps = [nbt.Step("Unfreeze", "unfreeze"),
             nbt.Step("Differential fit", "fit", {"differential": True, "n_cycle": 2, "cycle_mult": 2})]
    trainer = Trainer(nbt.Checklist(learn, steps, lr=1e-2), folder=tmp_path)
    assert len(trainer.sliders.sliders) == 2 and [s.value for s in trainer.sliders.sliders] == [3.0, 3.0]
    trainer.sliders.sliders[0].value = 5.0  # body 2 / body 1
    trainer.sliders.sliders[1].value = 2.0  # head / body 2
    expected = [1e-2 / 10, 1e-2 / 2, 1e-2]
    assert trainer.model.group_lrs == pytest.approx(expected)
    preview = np.asarray(trainer.sliders.lines.y)
    epochs = nbt.sgdr_epochs(2, 1, 2)
    assert preview.shape == (3, learn.data.train_batches * epochs)
    assert preview[:, 0] == pytest.approx(expected)
    assert "0.005" in trainer.sliders.lrs_label.value

    run_and_wait(trainer, 0)
    first = len(learn.recorder.iterations)
    run_and_wait(trainer, 1)
    assert fit_lrs(learn, first) == pytest.approx(expected)
    recorded = np.array([r["lrs"] for r in learn.recorder.iterations[first:]]).T
    assert recorded == pytest.approx(preview)  # the preview is the schedule the fit then ran


def test_stop_mid_fit_leaves_a_consistent_learner_that_fits_again(tmp_path):
    learn = small_learner(n=100)
    trainer = Trainer(nbt.Checklist(learn, [nbt.Step("Long fit", "fit", {"n_cycle": 30})]), folder=tmp_path)

    def upload_while_training():  # predicting would put the model in eval mode mid-fit: refused
        trainer.model.predict_bytes(b"any bytes")
        assert "wait for the running step" in trainer.model.prediction["error"] and learn.model.training

    stop_while_held(trainer, learn, at=3, while_held=upload_while_training)
    assert trainer.model.statuses == ["stopped"] and "nbt-status-stopped" in trainer.panel.rows[0]._dom_classes
    assert len(learn.recorder.iterations) == 3  # stopped at the next batch boundary
    bar = trainer.stage_progress  # red and said: not the orange of an early stop, not "done"
    assert bar.bar.bar_style == "danger" and bar.label.value.endswith("stopped: you pressed Stop")
    assert not learn.model.training and learn.state.cancelled
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())
    trainer.model.checklist.set_param(0, "n_cycle", 1)
    run_and_wait(trainer, 0)  # the learner can fit again
    assert trainer.model.statuses == ["done"] and len(learn.recorder.iterations) == 3 + learn.data.train_batches


def test_stop_during_lr_find_restores_the_learner(tmp_path):
    learn = small_learner(n=100)
    trainer = Trainer(nbt.Checklist(learn, [nbt.Step("LR", "lr_find", {"num_iter": 200})]), folder=tmp_path)
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    stop_while_held(trainer, learn, at=5, event="after_batch")
    assert trainer.model.statuses == ["stopped"] and trainer.model.suggested_lr is None
    assert all(torch.equal(before[k], v) for k, v in learn.model.state_dict().items())


def test_live_updates_stay_under_the_throttle(tmp_path):
    rate = 4.0
    with recording_comms() as log:
        learn = small_learner(n=100)
        trainer = Trainer(nbt.Checklist(learn, [nbt.Step("fit", "fit", {"n_cycle": 12})]), folder=tmp_path,
                          rate=rate)
        start = time.monotonic()
        run_and_wait(trainer, 0)
        seconds = time.monotonic() - start
    per_widget = log.per_comm(start, time.monotonic())
    n_batches = 12 * learn.data.train_batches
    # each widget: at most `rate` updates a second, plus the final update and the status changes
    assert max(per_widget.values()) <= seconds * rate + 3, per_widget.most_common(3)
    assert trainer.model.feed.updates <= seconds * rate + 2
    assert len(trainer.training.train_loss.x) == n_batches  # throttled, yet every point arrives


def test_going_back_restores_the_model_of_that_step(tmp_path):
    learn = small_learner(n=100)
    trainer = Trainer(learn, folder=tmp_path, **FAST)
    for i in range(3):  # precompute, lr_find, the head on the cache
        run_and_wait(trainer, i)
    after_head = learn.get_preds()[0]
    trainer.model.checklist.steps[3].params["keep_best"] = False  # its weights change even if it does not help
    run_and_wait(trainer, 3)  # the head with augmentation
    after_aug = learn.get_preds()[0]
    assert not torch.equal(after_head, after_aug)
    assert not trainer.panel.rows[2].back.disabled and trainer.panel.rows[4].back.disabled

    press(trainer.panel.rows[2].back)
    assert torch.equal(learn.get_preds()[0], after_head)
    assert trainer.model.statuses[:4] == ["done", "done", "done", "pending"]
    assert len(trainer.training.train_loss.x) == len(learn.recorder.iterations)  # curves redrawn from history
    run_and_wait(trainer, 3)  # the same step again, from the same state and random state: the same model
    assert torch.equal(learn.get_preds()[0], after_aug)


def test_the_exported_script_replays_the_run_with_the_chosen_lrs(tmp_path):
    learn = small_learner(n=100)
    trainer = Trainer(learn, folder=tmp_path, **FAST)
    run_and_wait(trainer, 0)
    run_and_wait(trainer, 1)
    click_curve(trainer.lr_plot, 3e-3)
    run_and_wait(trainer, 2)
    run_and_wait(trainer, 3)
    sent = []
    trainer.downloads.send = lambda content, buffers=None: sent.append((content, buffers))  # the browser's side
    script = tmp_path / "recipe.py"
    assert trainer.downloads.download("script") == script  # "Take it home: Script"
    assert script.is_file() and "wrote" in trainer.panel.message.value
    assert b"".join(b[0] for c, b in sent if c["kind"] == "piece") == script.read_bytes()
    code = script.read_text().replace("\n", "\nimport torch; torch.set_num_threads(2)\n", 1)
    script.write_text(code + f"\nlearn.save({str(tmp_path / 'replayed.pt')!r})\n")
    subprocess.run([sys.executable, str(script)], check=True, cwd=tmp_path, capture_output=True, timeout=300)
    replayed = torch.load(tmp_path / "replayed.pt", weights_only=True)["history"]["iterations"]
    assert np.array([r["lrs"] for r in replayed]) == pytest.approx(np.array([r["lrs"] for r in learn.recorder.iterations]))
    assert replayed[0]["lrs"] == pytest.approx([3e-3] * 3)
    assert [r["loss"] for r in replayed] == pytest.approx([r["loss"] for r in learn.recorder.iterations], rel=1e-4)
    # the model file and the report, as the app's Model and Report downloads make them
    sent.clear()
    assert trainer.downloads.download("model") == tmp_path / "model.safetensors"
    digit_png(learn, 3, tmp_path / "three.png")
    label, probs = nbt.Predictor.from_file(tmp_path / "model.safetensors").predict(tmp_path / "three.png")
    want_label, want_probs = learn.predict(tmp_path / "three.png")
    assert label == want_label and torch.allclose(probs, want_probs, atol=1e-5)
    assert b"".join(bytes(b[0]) for c, b in sent if c["kind"] == "piece") == (tmp_path / "model.safetensors").read_bytes()
    trainer.downloads.download("report")
    report = (tmp_path / "report.html").read_text()
    assert all(step.name in report for step in trainer.model.checklist.steps) and "data:image/png;base64," in report


def test_the_model_download_waits_for_a_trained_model(tmp_path):
    trainer = Trainer(small_learner(n=60), folder=tmp_path, **FAST)
    assert trainer.downloads.download("model") is None and not (tmp_path / "model.safetensors").exists()
    assert "train first" in trainer.model.message and trainer.downloads.status == ""


def test_downloads_send_a_file_in_pieces_and_say_what_failed(tmp_path):
    from nbtrainer.widget.downloads import PIECE, Downloads

    big = tmp_path / "model.safetensors"
    big.write_bytes(np.random.default_rng(0).bytes(2 * PIECE + 5))
    sent, errors = [], []
    def broken():
        raise RuntimeError("matplotlib could not draw")

    downloads = Downloads({"model": ("Model", lambda: big), "report": ("Report", lambda: tmp_path / "gone.html"),
                           "script": ("Script", lambda: None), "plot": ("Plot", broken)}, on_error=errors.append)
    downloads.send = lambda content, buffers=None: sent.append((content, buffers))
    downloads._receive(downloads, {"kind": "want", "key": "model"}, [])   # what a click sends
    assert [c["kind"] for c, _ in sent] == ["start", "piece", "piece", "piece", "end"]
    assert sent[0][0] == {"kind": "start", "filename": "model.safetensors", "size": 2 * PIECE + 5,
                          "type": "application/octet-stream"}
    assert b"".join(bytes(b[0]) for c, b in sent if c["kind"] == "piece") == big.read_bytes()
    assert "model.safetensors (8 MB) sent" in downloads.status
    sent.clear()
    downloads._receive(downloads, {"kind": "want", "key": "report"}, [])  # a file that cannot be read
    downloads._receive(downloads, {"kind": "want", "key": "script"}, [])  # nothing made (the maker said why)
    downloads._receive(downloads, {"kind": "want", "key": "../../etc/passwd"}, [])  # not a button: ignored
    downloads._receive(downloads, {"kind": "want", "key": "plot"}, [])  # any error: said, the status cleared
    assert sent == [] and len(errors) == 2 and "the report could not be made" in errors[0] and "gone.html" in errors[0]
    assert "the plot could not be made: RuntimeError: matplotlib could not draw" == errors[1] and downloads.status == ""


def test_the_lr_plot_alone_draws_a_plain_learners_sweep_and_takes_a_click():
    learn = small_learner(n=80)
    plot = LRPlot()
    result = plot.find(learn, num_iter=20)
    assert list(plot.smoothed.x) == pytest.approx(result.lrs)
    assert plot.picked_lr is None
    click_curve(plot, 1e-3)
    assert plot.picked_lr == pytest.approx(1e-3) and "Chosen LR: 0.001" in plot.label.value


def test_the_lr_plot_keeps_only_a_blow_up_off_its_scale():
    plot = LRPlot()
    curve = {"lrs": [1e-5, 1e-4, 1e-3, 1e-2], "losses": [0.01, 0.004, 0.03, 9.0], "smoothed": [0.01, 0.004, 0.03, 9.0],
             "suggestion": 1e-4}
    plot.show_result({**curve, "stop_reason": "smoothed loss above 4x its minimum (and 0.11 over it) at lr=0.01"})
    assert list(plot.smoothed.y) == [0.01, 0.004, 0.03, 0.03]  # the point that ended the sweep, cut
    plot.show_result({**curve, "stop_reason": "reached end_lr=0.01"})
    assert list(plot.smoothed.y) == [0.01, 0.004, 0.03, 9.0]  # a rise the finder let run: drawn as it is


def test_bad_edits_are_refused_with_a_message_and_the_input_reset(tmp_path):
    learn = small_learner(n=60)
    trainer = Trainer(learn, folder=tmp_path, **FAST)
    box = trainer.panel.rows[2].inputs["cycle_len"]
    box.value = 0
    assert "cycle_len=0" in trainer.panel.message.value
    assert box.value == 1 and trainer.model.checklist.steps[2].params.get("cycle_len", 1) == 1
    box.value = 2
    assert trainer.model.checklist.steps[2].params["cycle_len"] == 2


@pytest.mark.parametrize("action", ["precompute", "tta"])
def test_stop_during_an_inference_pass_stops_the_step(tmp_path, action):
    learn = small_learner(n=100)
    trainer = Trainer(nbt.Checklist(learn, [nbt.Step(action, action, {"n": 3} if action == "tta" else {})]),
                      folder=tmp_path)
    stop_while_held(trainer, learn, at=1, event="after_batch")
    assert trainer.model.statuses == ["stopped"] and not learn.precompute
    run_and_wait(trainer, 0)  # and it runs to the end when asked again
    assert trainer.model.statuses == ["done"]


def test_progress_interpretation_and_upload_tabs(tmp_path):
    learn = small_learner(n=100)
    trainer = Trainer(learn, folder=tmp_path, **FAST)
    run_and_wait(trainer, 0)
    assert trainer.stage_progress.label.value.startswith("precompute") and "done" in trainer.stage_progress.label.value
    assert trainer.stage_progress.bar.value == trainer.stage_progress.bar.max  # finished at 100%
    run_and_wait(trainer, 2)
    assert trainer.stage_progress.label.value.startswith(f"fit {learn.data.train_batches}/{learn.data.train_batches} · epoch 1/1")

    press(trainer.interpretation.button)
    assert trainer.model.worker.join(60)
    interp = nbt.Interpretation.from_learner(learn)
    assert np.array_equal(trainer.interpretation.heat.color, interp.confusion_matrix().numpy())
    assert len(trainer.interpretation.grid.children) == min(9, len(learn.data.valid))
    assert f"accuracy {float((interp.preds == interp.targets).double().mean()):.2%}" in trainer.interpretation.summary.value

    buffer = io.BytesIO()
    digit_png(learn, 0, buffer)
    trainer.model.predict_bytes(buffer.getvalue())  # what the FileUpload hands over
    label, probs = learn.predict(buffer.getvalue())
    assert trainer.predictor.result.value.startswith(f"<b>{label}</b>") and trainer.predictor.image.value
    trainer.model.predict_bytes(b"not an image")
    assert "not an image this model can read" in trainer.predictor.result.value


def test_the_widget_shows_which_cycle_end_a_fit_kept(tmp_path):
    learn = small_learner(n=100)
    learn.precompute = True
    steps = [nbt.Step("Fit", "fit", {"n_cycle": 3, "keep_best": True, "lr": 0.05})]
    trainer = Trainer(nbt.Checklist(learn, steps), folder=tmp_path)
    run_and_wait(trainer, 0)
    kept = trainer.model.checklist.steps[0].result["kept"]
    assert kept.startswith(("cycle", "the start")) and f"kept {kept}" in trainer.panel.rows[0].detail.value
    plot, rows = trainer.training, learn.recorder.epochs
    assert list(plot.cycle_ends.y) == [r["accuracy"] for r in rows if r.get("cycle_end")] and len(plot.cycle_ends.x) == 3
    marked = [r for r in rows if r.get("kept")]  # the kept cycle end's diamond; none when the start was kept
    assert len(marked) == (1 if kept.startswith("cycle") else 0)
    assert list(plot.kept.y) == [r["accuracy"] for r in marked]
    if marked:
        assert kept == f"cycle {marked[0]['cycle_end']} of 3"


def test_the_laptop_layout_follows_the_running_step_and_shows_the_selected_steps_details(tmp_path):
    learn = small_learner(n=100)
    trainer = Trainer(learn, folder=tmp_path, **FAST)
    panel, steps = trainer.panel, trainer.model.checklist.steps
    shown = lambda: [i for i, row in enumerate(panel.rows) if row.details.layout.display != "none"]  # noqa: E731
    assert shown() == [0] and "nbt-selected" in panel.rows[0]._dom_classes
    press(panel.rows[7].name)                                       # the student looks at step 8's parameters
    assert shown() == [7] and "nbt-selected" not in panel.rows[0]._dom_classes
    panel.rows[7].inputs["n_cycle"].value = 2
    assert steps[7].params["n_cycle"] == 2 and shown() == [7]      # an edit keeps the choice
    run_and_wait(trainer, 0)
    assert shown() == [1]                                           # a run takes the detail area to the next step
    lr_find = next(i for i, s in enumerate(steps) if s.action == "lr_find")
    fit = next(i for i, s in enumerate(steps) if s.action == "fit")
    trainer.plot_choice.value = "Training"
    run_and_wait(trainer, lr_find)
    assert trainer.plot_choice.value == "LR finder" and trainer.plots.selected_index == 0
    run_and_wait(trainer, fit)
    assert trainer.plot_choice.value == "Training" and trainer.plots.selected_index == 1


def test_the_data_tab_shows_counts_images_and_augmentations(tmp_path):
    learn = small_learner(n=100)
    trainer = Trainer(learn, folder=tmp_path, **FAST)
    view = trainer.data_view
    press(view.refresh)
    counts = learn.data.train.targets().bincount(minlength=learn.data.c).tolist()
    for name, n in zip(learn.data.classes, counts):
        assert f"<tr><td>{name}</td><td>{n}</td>" in view.counts.value
    assert len(view.samples.children) == learn.data.c
    assert all(len(row.children) == 1 + 4 for row in view.samples.children)  # the name and 4 images
    first = [img.value for img in view.preview.children]
    assert len(first) == 8 and first[0][:4] == b"\x89PNG"
    press(view.redraw)                                              # a new draw of the augmentation
    second = [img.value for img in view.preview.children]
    assert second[0] == first[0] and second[1:] != first[1:]       # the plain image stays


def test_a_step_cut_short_says_why_in_the_message_line():
    from nbtrainer.widget.checklist_state import outcome_message

    checklist = nbt.Checklist.recipe(small_learner(n=60), **FAST)
    fit = next(i for i, s in enumerate(checklist.steps) if s.action == "fit")
    step = checklist.steps[fit]
    assert outcome_message(checklist, fit) is None  # pending
    step.status, step.result = "stopped", {"kept": "cycle 1 of 4"}
    assert outcome_message(checklist, fit) == (f"Step {fit + 1} ({step.name}) stopped: you pressed Stop; it kept "
                                               "cycle 1 of 4. Run it again to go on.")
    step.status, step.result = "done", {"kept": "cycle 2 of 4 (stopped after cycle 3 of 4: over-fitting)",
                                        "stop_reason": "over-fitting"}
    assert "ended early, the validation loss stopped falling: it is over-fitting; it kept cycle 2" in \
        outcome_message(checklist, fit)
    step.result = {"kept": "cycle 4 of 4", "stop_reason": ""}
    assert outcome_message(checklist, fit) is None  # ran to its end: nothing to add


def test_the_lr_words_agree_when_the_unfrozen_suggestion_is_bounded(tmp_path):
    learn = small_learner(n=60)
    trainer = Trainer(learn, folder=tmp_path, **FAST)
    result = learn.lr_find(num_iter=20)
    suggestion = result.suggestion or 1e-3
    bounded = suggestion / 3  # what recipe.lr_policy.unfrozen_lr does to a suggestion far above the head's LR
    result.suggestion = suggestion
    trainer.model.write(lambda: trainer.model.checklist.record_lr_find(result, bounded))
    panel, plot = trainer.panel.next_lr.value, trainer.lr_plot.label.value
    assert f"<b class='nbt-lr-value'>{bounded:.3g}</b>" in panel and f"suggested {suggestion:.3g}" in panel
    assert f"suggestion (orange): {suggestion:.3g}" in plot and f"the next fit uses (green): {bounded:.3g}" in plot
    assert list(trainer.lr_plot.used.x) == pytest.approx([bounded])  # the LR in use, marked on the curve
    n = len(result.lrs)
    easy = {**result.to_dict(), "stop_reason": "reached end_lr=10", "smoothed": list(np.linspace(2.0, 0.5, n))}
    trainer.lr_plot.show_result(easy)  # the loss fell to the end of the range: no rise anywhere
    assert "never rose in this range" in trainer.lr_plot.label.value
    rose = {**easy, "smoothed": [*np.linspace(2.0, 0.5, n - 5), 1.0, 1.2, 1.4, 1.6, 1.9]}  # rose, under 4x
    trainer.lr_plot.show_result(rose)
    assert "never rose" not in trainer.lr_plot.label.value


def test_the_lr_figure_draws_one_line_for_equal_lrs_and_a_legend_outside_the_plot():
    from nbtrainer.widget.render import GroupLRFigure

    fig = GroupLRFigure(["body 1/2", "body 2/2", "head"], "iteration", "LRs", "150px", "nbt-test", {"top": 10})
    fig.show(range(4), np.full((3, 4), 1e-3))  # before differential LRs: three identical lines
    assert np.atleast_2d(fig.lines.y).shape == (1, 4) and "every layer group: the same LR" in fig.legend.value
    fig.show([0], np.full((3, 1), 1e-3))  # the first iteration of a fit: one point, as a 1-D line
    assert np.asarray(fig.lines.y).shape == (1,)
    fig.show(range(4), np.array([[1e-4] * 4, [3e-4] * 4, [1e-3] * 4]))
    assert np.asarray(fig.lines.y).shape == (3, 4) and all(n in fig.legend.value for n in ("early layers", "the head"))
    assert not fig.lines.display_legend  # bqplot's legend would cover the lines


def test_the_progress_bar_tells_a_finished_stage_from_a_stopped_and_an_early_stopped_one():
    from nbtrainer.widget.results_view import StageProgress

    bar = StageProgress()
    info = {"stage": "fit", "done": 40, "total": 40, "elapsed": 3.0, "eta": 0.0, "epoch": 2, "n_epochs": 2,
            "finished": True, "stopped": False}
    for changes, style, words in [({}, "success", "done"), ({"done": 12, "stopped": True}, "danger", "stopped: you pressed Stop"),
                                  ({"done": 12}, "warning", "ended early (see the checklist's message)"),
                                  ({"done": 12, "finished": False, "eta": 5.0}, "", "0:05 left")]:
        bar.show({**info, **changes})
        assert bar.bar.bar_style == style and bar.label.value.endswith(words), (changes, bar.label.value)
