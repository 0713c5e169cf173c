"""`nbtrainer run` end to end: the recipe on a folder and on the digits, its report, its errors."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from nbtrainer.cli import main
from nbtrainer.train.predict import Predictor



def test_run_on_a_folder_writes_the_report(make_folder, tmp_path, capsys):
    root = make_folder({"zero": 12, "one": 12, "two": 12})
    out = tmp_path / "report"
    code = main(["run", "--data", str(root), "--test-pct", "0.25", "--size", "32", "--final-size", "40", "--bs", "8", "--head-cycles", "1",
                 "--aug-cycles", "1", "--unfrozen-cycles", "2", "--final-cycles", "1", "--tta", "1", "--workers", "0",
                 "--lr-find-iters", "20", "--unfrozen-lr-find-iters", "12", "--cache-dir", str(tmp_path / "cache"),
                 "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "validation accuracy:" in printed and "raw-pixel SVC baseline: n/a" in printed
    # the bar to beat on a folder (issue 28): printed after precompute, before any training, and at the end
    bar = printed.index("the bar to beat: a linear probe scores")
    assert printed.index("-> Precompute activations") < bar < printed.index("-> Find the learning rate")
    # the test set (issue 28): held out of the folder, named in the plan, scored at the end against the probe's
    assert "judged on 9 test images, never used to choose" in printed
    assert re.search(r"test accuracy: [\d.]+% \(.*\) on 9 images never used to choose; [\d.]+ points "
                     r"(over|below) the linear probe's [\d.]+% on test", printed)
    for name in ("Precompute activations", "Find the learning rate", "Train the head on precomputed activations",
                 "Unfreeze all layers", "Find the learning rate again", "Progressive resize to 40px",
                 "Test-time augmentation"):
        assert name in printed
    metrics = json.loads((out / "metrics.json").read_text())
    steps = metrics["steps"]
    assert [s["status"] for s in steps] == ["done"] * 10
    assert len(metrics["epochs"]) == 1 + 1 + (1 + 2) + 1 and metrics["sizes"] == [32, 40]
    finds = metrics["lr_finds"]
    assert [f["step"] for f in finds] == ["Find the learning rate", "Find the learning rate again"]
    assert len(finds[0]["lrs"]) == len(finds[0]["smoothed"]) <= 20
    assert finds[1]["ratios"] == pytest.approx([1 / 9, 1 / 3, 1])
    lr = next((f["suggestion"] for f in reversed(finds) if f["suggestion"]), 1e-2)
    assert steps[7]["lrs"] == [lr / 9, lr / 3, lr]  # the latest suggestion drives the fits
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    # the resize is kept only if 40 px beat 32 px on validation: the checkpoint has the size kept
    assert ckpt["classes"] == ["one", "two", "zero"] and ckpt["data"]["size"] == steps[8]["size"] in (32, 40)
    assert steps[8]["kept"].startswith(("cycle", "the start")) and "kept" in printed
    assert 0 < metrics["probe_accuracy"] <= 1 and 0 < metrics["probe_test_accuracy"] <= 1
    assert metrics["test_accuracy"] == steps[-1]["test_accuracy"] and 0 < metrics["test_plain_accuracy"] <= 1
    assert all(0 <= s["test_accuracy"] <= 1 for s in steps if s["epochs"])  # each fit's gain on test
    assert Predictor.from_file(out / "model.safetensors").classes == ["one", "two", "zero"]  # the file to share
    for png in ("training.png", "lr_schedule.png", "lr_find.png", "confusion.png", "top_losses.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.html").read_text()  # one page to take home: the steps, their results, inline plots
    assert all(s["step"] in report for s in steps) and report.count("src='data:image/png;base64,") == 3
    assert "://" not in report  # nothing loaded from another host (no URL: ":" is not in base64)
    interp = metrics["interpretation"]
    cm = np.array(interp["confusion_matrix"])
    assert cm.shape == (3, 3) and cm.sum() == sum(r["support"] for r in interp["per_class"])
    assert np.trace(cm) / cm.sum() == pytest.approx(metrics["accuracy"])  # the plain accuracy printed
    assert interp["top_losses"][0]["path"].startswith(str(root)) and len(interp["top_losses"]) == min(9, cm.sum())


def test_run_on_the_embedded_digits_prints_the_svc_baseline(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "nbtrainer", "run", "--limit", "200", "--size", "32", "--final-size", "0",
         "--aug-cycles", "1", "--unfrozen-cycles", "1", "--tta", "1", "--unfrozen-lr-find-iters", "10", "--out", str(tmp_path / "o"), "--no-progress"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    line = next(l for l in result.stdout.splitlines() if l.startswith("validation accuracy:"))
    assert "raw-pixel SVC baseline:" in line and "n/a" not in line and "images 32px" in line
    assert "no test set: the validation accuracy is optimistic" in result.stdout  # in the plan and at the end
    assert "points over the linear probe's" in line or "points below the linear probe's" in line


def test_run_with_a_missing_folder_exits_2_naming_it(tmp_path, capsys):
    assert main(["run", "--data", str(tmp_path / "nope"), "--no-progress"]) == 2
    assert "nope' does not exist" in capsys.readouterr().err


def test_the_cli_and_the_library_have_the_same_defaults(make_folder, tmp_path):
    import nbtrainer as nbt
    from nbtrainer.cli import build_parser, build_run

    root = make_folder({"zero": 6, "one": 6})
    args = build_parser().parse_args(["run", "--data", str(root), "--workers", "0", "--no-progress",
                                      "--cache-dir", str(tmp_path / "cache")])
    data, learn, checklist = build_run(args)
    library = nbt.Learner(data, cache=nbt.ActivationCache(tmp_path / "cache"))
    same = ("opt", "momentum", "wd", "bn_freeze", "n_groups")
    assert {k: learn.config[k] for k in same} == {k: library.config[k] for k in same}
    assert learn.config["opt"] == "adamw" and learn.config["bn_freeze"] is True  # the measured defaults
    assert data.bs == 2  # 10 training images: the CLI's default batch size planned from the data (issue 28)
    data.bs = 64  # as the library's data starts
    recipe = nbt.Checklist.recipe(library, size="auto", bs="auto")
    assert [(s.action, s.params) for s in checklist.steps] == [(s.action, s.params) for s in recipe.steps]
    assert checklist.plan == recipe.plan and (checklist.lr, checklist.ratios) == (recipe.lr, recipe.ratios)


@pytest.mark.parametrize("argv, named", [
    (["--tta", "0"], "--tta 0"), (["--snapshots", "9"], "--snapshots 9"), (["--patience", "0"], "--patience 0"),
    (["--warmup", "5"], "--warmup 5"), (["--unfrozen-lr-find-iters", "3"], "--unfrozen-lr-find-iters 3"),
    (["--lr", "-1"], "--lr -1"), (["--ratio", "0.5"], "--ratio 0.5"), (["--size", "0"], "--size"),
    (["--bs", "0"], "--bs"), (["--valid-pct", "1.5"], "--valid-pct"), (["--test-pct", "0"], "--test-pct"), (["--final-size", "-3"], "--final-size"),
    (["--size", "16"], "--size"), (["--final-size", "4"], "--final-size"),
    (["--limit", "50"], "--limit 50"), (["--out", "FILE"], "--out"), (["--budget", "0"], "--budget 0"),
    (["--stop-on", "lost"], "--stop-on lost"),
    (["--arch", "nosuch"], "--arch 'nosuch'"), (["--device", "tpu9"], "--device 'tpu9'"),
])
def test_every_option_is_checked_before_any_work_and_named(tmp_path, capsys, argv, named):
    out = tmp_path / "report"
    if argv[:2] == ["--out", "FILE"]:  # a file where the report folder should go
        (tmp_path / "a-file").write_text("x")
        argv, out = ["--out", str(tmp_path / "a-file" / "report")], tmp_path / "a-file" / "report"
    else:
        argv = [*argv, "--out", str(out)]
    with pytest.raises(SystemExit) if argv[0] in ("--size", "--bs", "--valid-pct", "--test-pct", "--final-size") else \
            _returns(2) as code:  # argparse's own types exit 2 themselves
        code.value = main(["run", *argv, "--data", str(tmp_path / "no-such-folder"), "--no-progress"])
    err = capsys.readouterr().err
    assert named in err and "expected" in err
    assert "no-such-folder" not in err  # refused before the data was even looked at
    assert not out.exists()


class _returns:
    """``with _returns(2) as code: code.value = main(...)`` checks the return code."""

    def __init__(self, expected):
        self.expected, self.value = expected, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        assert exc[0] is None and self.value == self.expected
        return False


def test_a_failing_step_still_writes_the_report_and_checkpoint_of_the_steps_before_it(tmp_path, capsys,
                                                                                      monkeypatch):
    from nbtrainer.recipe import actions

    def broken(learn, checklist, params):
        raise RuntimeError("the disk is full")

    monkeypatch.setitem(actions.ACTIONS, "tta", broken)
    out = tmp_path / "o"
    code = main(["run", "--limit", "120", "--size", "32", "--final-size", "0", "--head-cycles", "1", "--aug-cycles",
                 "1", "--unfrozen-cycles", "1", "--lr-find-iters", "10", "--unfrozen-lr-find-iters", "10",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "step 'Test-time augmentation' failed: RuntimeError: the disk is full" in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["failed_step"] == "Test-time augmentation"
    assert [s["status"] for s in metrics["steps"]] == ["done"] * 8 + ["failed"]
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["classes"] == [str(i) for i in range(10)]


def test_checklist_recipe_refuses_bad_settings_before_any_work():
    import nbtrainer as nbt

    learn = nbt.Learner(nbt.ImageData.demo(n=60, size=32))
    for bad, words in (({"tta_n": 0}, "tta_n=0"), ({"snapshots": 9}, "snapshots=9"), ({"warmup": 5}, "warmup=5"),
                       ({"size": 0}, "size=0"), ({"final_size": 4}, "final_size=4")):
        with pytest.raises(ValueError, match=words):
            nbt.Checklist.recipe(learn, **bad)
    assert learn.recorder.iterations == []  # nothing ran


def test_app_serves_the_notebook_with_nbtrainers_template_or_names_a_missing_one(tmp_path, capsys):
    from pathlib import Path

    from nbtrainer.cli.app import CONFIG, TEMPLATES, voila_command

    assert main(["app", str(tmp_path / "nope.ipynb")]) == 2
    assert "nope.ipynb: no such notebook" in capsys.readouterr().err
    notebook = tmp_path / "app.ipynb"
    notebook.write_text("{}")
    cmd, env = voila_command(str(notebook), ["--port=8866"])
    assert cmd[1:] == ["-m", "voila", str(notebook), "--template=nbtrainer", "--port=8866"]
    assert env["JUPYTER_PATH"].split(os.pathsep)[0] == str(TEMPLATES)
    # wherever it runs, Voila reads the package's voila.json (serve no files): the same as the repository's
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0] == str(CONFIG)
    repo = Path(__file__).resolve().parents[1] / "voila.json"
    assert json.loads((CONFIG / "voila.json").read_text()) == json.loads(repo.read_text())
    assert json.loads(repo.read_text())["VoilaConfiguration"]["file_allowlist"] == []
    with pytest.raises(SystemExit):  # the notebook comes first; Voila's options after it
        main(["app", "--port=8866"])
    page = (TEMPLATES / "voila" / "templates" / "nbtrainer" / "index.html.j2").read_text()
    assert "extends 'voila/templates/lab/index.html.j2'" in page and "<link" not in page
