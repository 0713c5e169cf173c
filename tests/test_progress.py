"""Progress reports of every long stage: monotone counts, finishing at 100%, throttled; the tqdm bars."""
from __future__ import annotations

import math

import pytest

import nbtrainer as nbt

from .conftest import small_learner


def stages(reports: list) -> dict[str, list]:
    by_stage: dict[str, list] = {}
    for info in reports:
        by_stage.setdefault(info.stage, []).append(info)
    return by_stage


def check_stage(infos: list, total: int) -> None:
    assert all(i.total == total for i in infos)
    done = [i.done for i in infos]
    assert done == sorted(done) and done[0] == 0 and done[-1] == total  # monotone, ends at 100%
    assert infos[-1].finished and infos[-1].fraction == 1.0 and not any(i.finished for i in infos[:-1])
    assert all(i.eta is None or i.eta >= 0 for i in infos) and infos[-1].eta == pytest.approx(0.0)


def test_every_long_stage_reports_monotone_counts_and_finishes_at_100_percent():
    learn = small_learner(n=100)
    reports = []
    learn.add_callback(nbt.Progress(reports.append, rate=1000))
    learn.precompute = True
    learn.lr_find(num_iter=20, div_factor=1e9)
    learn.fit(1e-2, n_cycle=2)
    learn.precompute = False
    learn.tta(2)
    by = stages(reports)
    assert list(by) == ["precompute", "lr_find", "fit", "tta"]  # validation inside the fit is the fit's
    check_stage(by["precompute"], math.ceil(len(learn.data.train) / learn.data.bs) + learn.valid_batches())
    check_stage(by["lr_find"], 20)
    check_stage(by["fit"], 2 * learn.data.train_batches)
    assert [i.epoch for i in by["fit"] if i.done][-1] == 2 and by["fit"][-1].n_epochs == 2
    check_stage(by["tta"], 3 * learn.valid_batches())


def test_reports_are_throttled_and_a_stopped_fit_finishes_short():
    learn = small_learner(n=100)
    reports = []
    stopper = nbt.Stopper()

    class StopAt3(nbt.Callback):
        def after_batch(self):
            if len(self.learner.recorder.iterations) == 3:
                stopper.request()

    learn.fit(1e-2, n_cycle=4, callbacks=[nbt.Progress(reports.append, rate=0.001), stopper, StopAt3()])
    assert len(reports) == 2  # the start and the end: none between at this rate
    assert reports[-1].finished and reports[-1].done == 3 < reports[-1].total


def test_tqdm_bars_for_each_stage(capsys):
    learn = small_learner(n=100)
    learn.add_callback(nbt.TqdmProgress())
    learn.precompute = True
    learn.lr_find(num_iter=12, div_factor=1e9)
    learn.fit(1e-2)
    err = capsys.readouterr().err
    for stage in ("precompute", "lr_find", "fit"):
        assert stage in err
    assert "100%" in err and "epoch=1/1" in err
    assert math.isfinite(learn.recorder.epochs[-1]["valid_loss"])


def test_a_bar_shows_no_nan_loss_before_the_first_training_batch(capsys):
    learn = small_learner(n=100)
    bar = nbt.TqdmProgress()
    learn.add_callback(bar)
    assert math.isnan(learn.state.loss_value)  # no training batch yet (a keep-best fit validates its start)
    bar.report(nbt.ProgressInfo("fit", done=0, total=5, elapsed=0.0, eta=None, epoch=1, n_epochs=1))
    bar.report(nbt.ProgressInfo("fit", done=5, total=5, elapsed=1.0, eta=0.0, epoch=1, n_epochs=1, finished=True))
    err = capsys.readouterr().err
    assert "nan" not in err and "loss=-" in err and "acc=-" in err


def test_a_keep_best_fit_is_one_stage_its_start_validation_included():
    learn = small_learner(n=100)
    stages = []
    learn.add_callback(nbt.Progress(lambda info: stages.append(info.stage), rate=1000))
    learn.fit(1e-3, 1, keep_best=True)
    assert set(stages) == {"fit"}
