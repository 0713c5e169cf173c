"""precompute: same training as the frozen body, cache keys, memory/disk storage, clear errors."""
from __future__ import annotations

import os

import pytest
import torch

import nbtrainer as nbt
from nbtrainer.train import precompute
from nbtrainer.train.precompute import ActivationCache, cache_key

from .conftest import small_data, small_learner


def test_head_on_the_cache_trains_exactly_like_the_head_on_the_frozen_body():
    def head_fit(precompute: bool):
        learn = small_learner()  # seeds the head, dropout and shuffling; no augmentation
        learn.precompute = precompute
        learn.fit(1e-2, n_cycle=2)
        return learn

    cached, direct = head_fit(True), head_fit(False)
    a, b = cached.recorder, direct.recorder
    assert len(a.iterations) == len(b.iterations) > 10
    assert [r["loss"] for r in a.iterations] == pytest.approx([r["loss"] for r in b.iterations], rel=1e-4, abs=1e-5)
    assert [e["valid_loss"] for e in a.epochs] == pytest.approx([e["valid_loss"] for e in b.epochs], rel=1e-4)
    for p, q in zip(cached.model.head.parameters(), direct.model.head.parameters()):
        assert torch.allclose(p, q, atol=1e-5)


def test_turning_precompute_off_keeps_the_trained_head():
    learn = small_learner()
    learn.precompute = True
    learn.fit(1e-2, n_cycle=2)
    on_cache = learn.validate()
    learn.precompute = False
    assert learn.validate() == pytest.approx(on_cache, rel=1e-4)
    learn.augment = True
    learn.fit(1e-3)  # images again, augmented
    assert learn.recorder.epochs[-1]["accuracy"] > 0.3


def test_the_key_follows_body_weights_data_and_size(make_folder):
    learn = small_learner()
    key = cache_key(learn)
    assert cache_key(small_learner()) == key  # same weights, data and size
    learn.set_size(40)
    assert cache_key(learn) != key
    learn.set_size(32)
    assert cache_key(learn) == key
    assert cache_key(nbt.Learner(small_data(n=100), seed=0)) != key
    with torch.no_grad():
        learn.model.body[0].weight[0, 0, 0, 0] += 1e-3
    assert cache_key(learn) != key

    root = make_folder({"a": 4, "b": 4})
    folder_learn = nbt.Learner(nbt.ImageData.from_folder(root, size=32, bs=4, num_workers=0), seed=0)
    before = cache_key(folder_learn)
    some_file = next(root.glob("a/*.png"))
    os.utime(some_file, ns=(1, 1))
    assert cache_key(folder_learn) != before


def test_a_changed_size_recomputes_the_cache_at_the_next_fit():
    learn = small_learner()
    learn.precompute = True
    first = learn._activations.key
    learn.set_size(40)
    learn.fit(1e-2)
    assert learn._activations.key == cache_key(learn) != first


def test_large_caches_go_to_disk_atomically_and_are_reused(tmp_path, monkeypatch):
    folder = tmp_path / "acts"
    learn = small_learner(cache=ActivationCache(folder, memory_limit=0))
    learn.precompute = True
    files = list(folder.iterdir())
    assert [f.name for f in files] == [f"{cache_key(learn)}.pt"]  # no temporary file left behind
    in_memory = small_learner()
    in_memory.precompute = True
    for name in ("train_x", "train_y", "valid_x", "valid_y"):
        assert torch.equal(getattr(learn._activations, name), getattr(in_memory._activations, name))

    def no_recompute(*args):
        raise AssertionError("the disk cache should have been used")

    monkeypatch.setattr(precompute, "compute_activations", no_recompute)
    again = small_learner(cache=ActivationCache(folder, memory_limit=0))
    again.precompute = True
    again.fit(1e-2)
    assert again.recorder.epochs[-1]["valid_loss"] > 0


def test_the_disk_limit_evicts_the_oldest_cache(tmp_path):
    folder = tmp_path / "acts"
    learn = small_learner(cache=ActivationCache(folder, memory_limit=0))
    learn.precompute = True
    one = os.path.getsize(next(folder.iterdir()))
    learn.cache.disk_limit = int(one * 1.5)
    learn.set_size(40)
    learn.precompute = True
    assert [f.name for f in folder.iterdir()] == [f"{cache_key(learn)}.pt"]
    with pytest.raises(ValueError, match="disk_limit"):
        ActivationCache(folder, memory_limit=0, disk_limit=10).get(learn.__class__(small_data(n=100), seed=0))


def test_an_unwritable_cache_folder_is_a_clear_error_and_changes_nothing(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    learn = small_learner(cache=ActivationCache(blocker / "cache", memory_limit=0))
    head = {k: v.clone() for k, v in learn.model.head.state_dict().items()}
    with pytest.raises(PermissionError, match="not writable"):
        learn.precompute = True
    assert learn.precompute is False
    assert all(torch.equal(v, learn.model.head.state_dict()[k]) for k, v in head.items())
    learn.fit(1e-2)  # still trains, on images


def test_precompute_needs_a_frozen_body_and_no_augmentation():
    learn = small_learner()
    learn.precompute = True
    learn.augment = True
    with pytest.raises(ValueError, match="augment"):
        learn.fit(1e-2)
    learn.augment = False
    learn.unfreeze()
    assert learn.precompute is False  # unfreezing turns it off
    with pytest.raises(ValueError, match="frozen"):
        learn.precompute = True


@pytest.mark.parametrize("name, value", [("memory_limit", -1), ("disk_limit", 1.5)])
def test_cache_limits_are_checked(name, value):
    with pytest.raises(ValueError, match=name):
        ActivationCache(**{name: value})


def test_a_cache_larger_than_memory_streams_to_memory_mapped_files_and_trains(tmp_path):
    folder = tmp_path / "acts"
    learn = small_learner(n=300, cache=ActivationCache(folder, memory_limit=2**20))  # 1 MiB; the cache is ~3 MB
    width = learn.model.head[0].num_features
    assert 300 * width * 4 > learn.cache.memory_limit
    seen = []

    class LookAtScratch(nbt.Callback):
        def after_batch(self):  # during the pass: the features go straight into files
            seen.extend((p.name, p.stat().st_size) for p in folder.glob(".*/*.f32"))

    learn.add_callback(look := LookAtScratch())
    learn.precompute = True
    learn.remove_callback(look)
    assert ("train_x.f32", len(learn.data.train) * width * 4) in seen
    assert not list(folder.glob(".*-*")) and len(list(folder.glob("*.pt"))) == 1  # scratch removed
    acts = learn.cache.get(learn)
    assert learn.cache._memory == {} and acts.train_x.shape == (len(learn.data.train), width)  # read from disk
    learn.fit(1e-2, n_cycle=2)

    twin = small_learner(n=300)  # the same head trained on an in-memory cache
    twin.precompute = True
    twin.fit(1e-2, n_cycle=2)
    assert [r["loss"] for r in learn.recorder.iterations] == [r["loss"] for r in twin.recorder.iterations]
