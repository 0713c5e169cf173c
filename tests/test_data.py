"""ImageData: ImageFolder trees made on disk, arrays, the digits; splits, size, augmentation, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import nbtrainer as nbt


def test_from_folder_reads_classes_and_splits_deterministically(make_folder):
    root = make_folder({"cat": 10, "dog": 10, "fox": 10})
    data = nbt.ImageData.from_folder(root, size=32, valid_pct=0.2, bs=4, seed=0, num_workers=0)
    assert data.classes == ["cat", "dog", "fox"] and data.c == 3
    assert (len(data.train), len(data.valid)) == (24, 6)
    assert not set(data.train.indices) & set(data.valid.indices)
    again = nbt.ImageData.from_folder(root, size=32, valid_pct=0.2, seed=0)
    other = nbt.ImageData.from_folder(root, size=32, valid_pct=0.2, seed=1)
    assert again.valid.indices == data.valid.indices and other.valid.indices != data.valid.indices
    xb, yb = next(iter(data.train_dl()))
    assert xb.shape == (4, 3, 32, 32) and xb.dtype == torch.float32 and 0 <= xb.min() and xb.max() <= 1


def test_from_folder_with_train_and_valid_folders(make_folder, tmp_path):
    make_folder({"a": 6, "b": 6}, root=tmp_path / "ds" / "train")
    make_folder({"a": 2, "b": 3}, root=tmp_path / "ds" / "valid")
    data = nbt.ImageData.from_folder(tmp_path / "ds", size=32)
    assert (len(data.train), len(data.valid)) == (12, 5) and data.classes == ["a", "b"]
    assert data.valid.targets().tolist() == [0, 0, 1, 1, 1]


def test_demo_is_the_real_digits_with_a_seeded_split():
    data = nbt.ImageData.demo(size=40)
    assert (len(data.train), len(data.valid)) == (1438, 359) and data.classes == [str(i) for i in range(10)]
    assert not data.aug.do_flip  # a flipped digit is another digit
    xb, yb = next(iter(data.valid_dl()))
    assert xb.shape[1:] == (3, 40, 40) and torch.equal(xb[:, 0], xb[:, 1])  # grey rendered to RGB
    assert nbt.ImageData.demo(seed=0).valid.indices == data.valid.indices


def test_set_size_and_augment_apply_to_the_next_loader():
    data = nbt.ImageData.demo(size=32, n=64, bs=64)
    plain = next(iter(data.valid_dl()))[0]
    data.set_size(48)
    assert next(iter(data.valid_dl()))[0].shape[-1] == 48
    data.set_size(32)
    assert torch.equal(next(iter(data.valid_dl()))[0], plain)
    assert not torch.equal(next(iter(data.valid_dl(augment=True)))[0], plain)
    data.augment = True
    first, second = next(iter(data.train_dl(shuffle=False)))[0], next(iter(data.train_dl(shuffle=False)))[0]
    assert not torch.equal(first, second)  # a new random view each time
    with pytest.raises(ValueError, match="size=4"):
        data.set_size(4)


def test_from_arrays_accepts_grey_rgb_and_float_images():
    grey = np.random.default_rng(0).integers(0, 255, (20, 12, 12), dtype=np.uint8)
    data = nbt.ImageData.from_arrays(grey, [i % 2 for i in range(20)], classes=["even", "odd"], size=16)
    assert data.classes == ["even", "odd"] and next(iter(data.train_dl()))[0].shape[1:] == (3, 16, 16)
    rgb = np.random.default_rng(0).random((10, 8, 8, 3))
    data = nbt.ImageData.from_arrays(rgb, [0, 1] * 5, size=16, valid_images=rgb[:4], valid_labels=[0, 1, 0, 1])
    assert (len(data.train), len(data.valid), data.c) == (10, 4, 2)


@pytest.mark.parametrize("images,labels,match", [
    (np.zeros((5, 8)), [0] * 5, r"images: expected .* got shape \(5, 8\)"),
    (np.full((4, 8, 8), 3.0), [0, 1, 0, 1], r"images: expected uint8 pixels or floats in \[0, 1\]"),
    (np.zeros((4, 8, 8), np.uint8), [0, 1, 0], "labels: expected 4 labels"),
    (np.zeros((4, 8, 8), np.uint8), [0.5, 1, 0, 1], "labels: expected integer class indices"),
])
def test_from_arrays_bad_input_names_the_argument(images, labels, match):
    with pytest.raises(ValueError, match=match):
        nbt.ImageData.from_arrays(images, labels)


def test_missing_or_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'.*nowhere' does not exist"):
        nbt.ImageData.from_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty.*one sub-folder per class"):
        nbt.ImageData.from_folder(tmp_path / "empty")
    (tmp_path / "empty" / "cats").mkdir()
    with pytest.raises(FileNotFoundError, match=r"cats.*one sub-folder per class"):
        nbt.ImageData.from_folder(tmp_path / "empty")


def test_one_class_folder_is_a_clear_error(make_folder):
    root = make_folder({"only": 5})
    with pytest.raises(ValueError, match=r"1 class folder\(s\) \['only'\].*at least 2"):
        nbt.ImageData.from_folder(root)


def test_unreadable_image_is_named_before_training(make_folder):
    root = make_folder({"a": 4, "b": 4})
    (root / "b" / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(nbt.BadImageError, match=r"(?s)1 file\(s\).*broken\.png"):
        nbt.ImageData.from_folder(root)


def test_valid_folder_with_other_classes_is_refused(make_folder, tmp_path):
    make_folder({"a": 4, "b": 4}, root=tmp_path / "ds" / "train")
    make_folder({"a": 2, "c": 2}, root=tmp_path / "ds" / "valid")
    with pytest.raises(ValueError, match=r"classes of .*valid.*\['a', 'c'\] differ"):
        nbt.ImageData.from_folder(tmp_path / "ds")


def test_bad_batch_size_and_valid_pct():
    with pytest.raises(ValueError, match="bs=0"):
        nbt.ImageData.demo(n=50, bs=0)
    with pytest.raises(ValueError, match="valid_pct=1.5"):
        nbt.ImageData.demo(n=50, valid_pct=1.5)
