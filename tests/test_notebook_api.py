"""The library from plain notebook code (no widget): plots (LRFinderResult.plot, the recorder's), rich HTML
reprs, and tqdm's notebook bars, checked in a real Jupyter kernel (nbclient) and headless."""
from __future__ import annotations

import threading

import matplotlib
import nbformat
import pytest
from nbclient import NotebookClient

import nbtrainer as nbt
from nbtrainer.train.progress import NotebookProgress, Progress, in_notebook
from tests.conftest import FAST_RECIPE, small_data, small_learner

matplotlib.use("Agg")  # this process only (no display); the kernel below uses its own inline backend


@pytest.fixture(scope="module")
def trained():
    learn = small_learner(n=120, size=32)
    result = learn.lr_find(num_iter=15)
    learn.fit(1e-3, n_cycle=2)
    return learn, result


def test_lr_finder_result_plots_its_curve_and_shows_itself_as_html(trained):
    learn, result = trained
    ax = result.plot()
    lines = ax.get_lines()
    assert list(lines[0].get_xdata()) == result.lrs and list(lines[1].get_ydata()) == result.smoothed
    assert ax.get_xscale() == "log"
    html = result._repr_html_()
    assert html.count("data:image/png;base64,") == 1
    assert (f"suggestion ({result.method}): {result.suggestion:.3g}" in html if result.suggestion is not None
            else "no suggestion" in html)
    assert f"{len(result.lrs)} iterations" in html


def test_recorder_plots_the_losses_the_accuracy_and_the_lrs_per_group(trained):
    learn, _ = trained
    rec = learn.recorder
    loss = rec.plot_loss()
    assert list(loss.get_lines()[0].get_ydata()) == [r["loss"] for r in rec.iterations]
    acc = rec.plot_metrics()
    assert list(acc.get_lines()[0].get_ydata()) == [e["accuracy"] for e in rec.epochs]
    lrs = rec.plot_lr()
    assert [line.get_label() for line in lrs.get_lines()] == learn.group_names
    assert list(lrs.get_lines()[-1].get_ydata()) == [r["lrs"][-1] for r in rec.iterations]


def test_image_data_interpretation_and_checklist_reprs(tmp_path):
    data = small_data(n=120, size=32)
    data.classes[0] = "<script>zero</script>"  # class names are escaped, never run
    html = data._repr_html_()
    assert f"{len(data.train)} train / {len(data.valid)} valid images, 10 classes, 32 px" in html
    assert "&lt;script&gt;zero&lt;/script&gt;" in html and "<script>" not in html
    assert html.count("<tr>") == 1 + data.c and "data:image/png;base64," in html

    learn = nbt.Learner(data, seed=0)
    checklist = nbt.Checklist.recipe(learn, size=32, final_size=0, **FAST_RECIPE)
    table = checklist._repr_html_()
    assert f"0 of {len(checklist.steps)} steps done" in table and table.count("pending") == len(checklist.steps)
    for _ in range(3):
        checklist.run_step(checklist.next_step())
    table = checklist._repr_html_()
    assert f"3 of {len(checklist.steps)} steps done" in table
    fit = checklist.steps[2]
    assert f"{fit.result['accuracy']:.2%}" in table

    interp = nbt.Interpretation.from_learner(learn)
    text = interp._repr_html_()
    acc = (interp.preds == interp.targets).float().mean().item()
    assert f"accuracy {acc:.2%} on {len(data.valid)} validation images" in text
    assert text.count("<tr>") >= 1 + min(len(interp.classes), 20)


def test_the_learner_bar_is_quiet_off_the_main_thread_and_beside_another_progress(monkeypatch):
    learn = small_learner(n=60, size=32)
    bar = NotebookProgress()
    learn.add_callback(bar)
    drawn = []
    monkeypatch.setattr("nbtrainer.train.progress.TqdmProgress.report", lambda self, info: drawn.append(info.stage))

    learn.fit(1e-3)  # main thread, no other Progress: drawn
    assert "fit" in drawn
    drawn.clear()
    worker = threading.Thread(target=lambda: learn.fit(1e-3))
    worker.start()
    worker.join()
    assert drawn == []  # a worker thread (the widget's steps): nothing
    learn.fit(1e-3, callbacks=[Progress()])  # someone else reports progress: nothing
    assert drawn == []
    assert not in_notebook() and not any(isinstance(c, NotebookProgress) for c in small_learner(n=60).callbacks)


NOTEBOOK = [
    "import nbtrainer as nbt\n"
    "data = nbt.ImageData.demo(size=32, n=120, bs=16)\n"
    "learn = nbt.Learner(data)\n"
    "data",
    "learn.fit(1e-3)",
    "learn.lr_find(num_iter=12)",
    "learn.recorder.plot_loss();",
    "[type(cb).__name__ for cb in learn.callbacks]",
]


def test_in_a_real_kernel_the_learner_draws_notebook_bars_plots_and_html():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in NOTEBOOK])
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    data_out, fit_out, lr_out, plot_out, cb_out = (c.outputs for c in nb.cells)
    assert "<b>ImageData</b>: 96 train / 24 valid images" in data_out[0]["data"]["text/html"]
    views = [o for o in fit_out if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views, fit_out  # tqdm's notebook bar (an ipywidgets view), not text on stderr
    assert not any(o.get("name") == "stderr" for o in fit_out), fit_out
    html = lr_out[-1]["data"]["text/html"]
    assert "data:image/png;base64," in html and "iterations; stopped:" in html
    assert any("image/png" in o.get("data", {}) for o in plot_out)
    assert "'NotebookProgress'" in cb_out[0]["data"]["text/plain"]
