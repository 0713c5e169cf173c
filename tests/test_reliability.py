"""Faults: bad arguments leave the learner as it was, Ctrl-C in the middle of a fit, an LR sweep or the
precompute pass leaves it consistent, checkpoints survive a killed writer and refuse pickled code."""
from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys

import pytest
import torch

import nbtrainer as nbt
from nbtrainer.train import checkpoint

from .conftest import small_learner


def state(learn) -> dict:
    return {"model": {k: v.clone() for k, v in learn.model.state_dict().items()},
            "lrs": [g["lr"] for g in learn.opt.param_groups], "n_frozen": learn.n_frozen, "size": learn.data.size,
            "iterations": len(learn.recorder.iterations), "precompute": learn.precompute}


def same(a: dict, b: dict) -> bool:
    return (all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
            and {k: v for k, v in a.items() if k != "model"} == {k: v for k, v in b.items() if k != "model"})


@pytest.mark.parametrize("call,match", [
    (lambda l: l.fit([1e-2, 1e-2]), r"expected one LR or 3 LRs.*body 1/2, body 2/2, head"),
    (lambda l: l.fit(0.0), "finite number > 0"),
    (lambda l: l.fit(-1e-3), "finite number > 0"),
    (lambda l: l.fit(float("nan")), "finite number > 0"),
    (lambda l: l.fit(1e-2, cycle_len=0), r"cycle_len=0: expected an integer >= 1"),
    (lambda l: l.fit(1e-2, cycle_mult=0), r"cycle_mult=0: expected an integer >= 1"),
    (lambda l: l.fit(1e-2, n_cycle=0), r"n_cycle=0: expected an integer >= 1"),
    (lambda l: l.fit(1e-2, cycle_len=1.5), r"cycle_len=1.5: expected an integer >= 1"),
    (lambda l: l.set_size(16), r"size=16: expected an integer >= 32 \(efficientnet_lite0 downsamples by 32\)"),
    (lambda l: l.lr_find(num_iter=3), r"num_iter=3: expected an integer >= 10"),
    (lambda l: l.tta(0), r"n=0: expected the number of augmented passes"),
])
def test_bad_arguments_are_named_and_change_nothing(call, match):
    learn = small_learner(n=60)
    before = state(learn)
    with pytest.raises(ValueError, match=match):
        call(learn)
    assert same(before, state(learn))


@pytest.mark.parametrize("kwargs,match", [
    ({"bs": 0}, r"bs=0: expected an integer >= 1"),
    ({"size": 4}, r"size=4: expected an integer number of pixels >= 8"),
])
def test_bad_data_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nbt.ImageData.demo(n=60, **kwargs)


def test_unknown_architecture_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"(?s)arch='resnet9000'.*efficientnet_lite0.*resnet34"):
        nbt.Learner(nbt.ImageData.demo(n=60, size=32), arch="resnet9000")


class InterruptAt(nbt.Callback):
    """Ctrl-C (KeyboardInterrupt) at the ``at``-th time ``event`` fires."""

    def __init__(self, event: str, at: int):
        self.event, self.at, self.count = event, at, 0
        setattr(self, event, self._tick)

    def _tick(self):
        self.count += 1
        if self.count == self.at:
            raise KeyboardInterrupt


def test_ctrl_c_in_an_lr_sweep_restores_the_learner_exactly():
    learn = small_learner(n=100)
    modes = [m.training for m in learn.model.modules()]
    with pytest.raises(KeyboardInterrupt):
        learn.lr_find(num_iter=30, callbacks=[InterruptAt("after_batch", 12)])
    assert learn.callbacks == [learn.recorder] and [m.training for m in learn.model.modules()] == modes
    learn.fit(1e-2)  # the same fit as on a learner that never ran the sweep (global RNG included)
    twin = small_learner(n=100)  # built after: the constructor seeds the global RNG
    twin.fit(1e-2)
    assert [r["loss"] for r in learn.recorder.iterations] == [r["loss"] for r in twin.recorder.iterations]
    assert all(torch.equal(a, b) for a, b in zip(learn.model.state_dict().values(), twin.model.state_dict().values()))


def test_ctrl_c_in_the_precompute_pass_keeps_no_cache_and_the_next_try_is_exact():
    learn = small_learner(n=100)
    learn.add_callback(interrupt := InterruptAt("after_batch", 2))
    with pytest.raises(KeyboardInterrupt):
        learn.precompute = True
    assert not learn.precompute
    learn.remove_callback(interrupt)
    learn.precompute = True
    learn.fit(1e-2)
    twin = small_learner(n=100)  # built after: the constructor seeds the global RNG
    twin.precompute = True
    twin.fit(1e-2)
    assert [r["loss"] for r in learn.recorder.iterations] == [r["loss"] for r in twin.recorder.iterations]


def test_ctrl_c_mid_epoch_leaves_a_learner_that_fits_again():
    learn = small_learner(n=100)
    with pytest.raises(KeyboardInterrupt):
        learn.fit(1e-2, n_cycle=3, callbacks=[InterruptAt("after_batch", 3)])
    assert len(learn.recorder.iterations) == 3 and not learn.recorder.epochs
    assert learn.callbacks == [learn.recorder] and not learn.model.training and learn._pinned is None
    learn.fit(1e-2)
    assert len(learn.recorder.epochs) == 1 and torch.isfinite(torch.tensor(learn.recorder.epochs[0]["valid_loss"]))


WRITER = """
import io, sys, time, torch
from nbtrainer.train import checkpoint
path = sys.argv[1]
checkpoint.atomic_torch_save({"format": "first", "x": torch.ones(3)}, path)
print("first saved", flush=True)
real_save = torch.save
def stalling_save(obj, f):  # half of the second checkpoint reaches the disk, then the writer hangs
    buffer = io.BytesIO()
    real_save(obj, buffer)
    f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    f.flush()
    print("half written", flush=True)
    time.sleep(600)
torch.save = stalling_save
checkpoint.atomic_torch_save({"format": "second", "x": torch.zeros(100_000)}, path)
"""


def test_a_writer_killed_mid_save_leaves_the_previous_checkpoint_whole(tmp_path):
    path = tmp_path / "model.pt"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "first saved"
        assert writer.stdout.readline().strip() == "half written"
        assert len(list(tmp_path.glob(".model.pt.*.tmp"))) == 1  # the second save is under way
        os.kill(writer.pid, signal.SIGKILL)
        assert writer.wait(30) == -signal.SIGKILL
    finally:
        writer.kill()
        writer.stdout.close()
    loaded = torch.load(path, weights_only=True)
    assert loaded["format"] == "first" and torch.equal(loaded["x"], torch.ones(3))


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_a_checkpoint_with_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": checkpoint.FORMAT, "model": Evil()}, f)
    learn = small_learner(n=60)
    before = state(learn)
    with pytest.raises(ValueError, match=r"evil\.pt' cannot be loaded safely: torch.load with weights_only=True") as e:
        learn.load(path)
    assert "weights_only=False" not in str(e.value)  # never the unsafe advice
    assert not (tmp_path / "pwned.txt").exists() and not os.path.exists("pwned.txt")
    assert same(before, state(learn))


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    ckpt = checkpoint.to_dict(small_learner(n=60))
    ckpt["config"]["arch"] = "resnet18"
    checkpoint.atomic_torch_save(ckpt, path)
    learn = small_learner(n=60)
    before = state(learn)
    with pytest.raises(ValueError, match=r"other\.pt' is for resnet18 .* this learner is efficientnet_lite0"):
        learn.load(path)
    assert same(before, state(learn))
