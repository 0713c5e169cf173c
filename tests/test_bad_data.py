"""Images people actually have in their folders: odd modes that must work, broken files that must be
named before training, and the policy for a few bad files among many."""
from __future__ import annotations

import io
import os

import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

import nbtrainer as nbt
from nbtrainer.data.sources import load_rgb


def huge_png(path, width=20000, height=20000) -> None:
    """A valid PNG header declaring ``width x height`` pixels (400 million), no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_odd_modes_are_converted_to_rgb(tmp_path):
    grey16 = Image.fromarray((np.arange(32 * 32).reshape(32, 32) * 64).astype(np.uint16))  # 0..65472
    grey16.save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    rgb = np.asarray(load_rgb(str(tmp_path / "g16.png")))
    assert rgb.shape == (32, 32, 3) and rgb[0, 0, 0] == 0 and rgb[-1, -1, 0] == 255  # scaled, not clipped white
    assert 120 < rgb[16, 0, 0] < 136  # the middle of the 16-bit range is mid-grey

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:4] = (200, 0, 0, 255)  # top half opaque red, bottom half fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    rgb = np.asarray(load_rgb(str(tmp_path / "a.png")))
    assert tuple(rgb[0, 0]) == (200, 0, 0) and tuple(rgb[-1, -1]) == (255, 255, 255)  # on white, not black

    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "c.jpg")  # CMYK red
    r, g, b = np.asarray(load_rgb(str(tmp_path / "c.jpg")))[4, 4]
    assert r > 200 and g < 60 and b < 60
    Image.new("L", (8, 8), 77).save(tmp_path / "l.png")
    assert tuple(np.asarray(load_rgb(str(tmp_path / "l.png")))[0, 0]) == (77, 77, 77)


def test_a_folder_of_odd_but_valid_images_trains(make_folder):
    root = make_folder({"a": 6, "b": 6})
    Image.fromarray((np.random.default_rng(0).random((24, 24)) * 65535).astype(np.uint16)).save(root / "a" / "g16.png")
    Image.new("CMYK", (24, 24), (10, 200, 30, 0)).save(root / "a" / "cmyk.jpg")
    Image.new("RGBA", (24, 24), (0, 0, 255, 128)).save(root / "b" / "rgba.png")
    Image.new("P", (24, 24), 3).save(root / "b" / "palette.png")
    (root / "b" / "notes.txt").write_text("not an image: ignored, it has no image extension")
    data = nbt.ImageData.from_folder(root, size=32, bs=4, valid_pct=0.25)
    assert len(data.train) + len(data.valid) == 16
    learn = nbt.Learner(data)
    learn.fit(1e-2)
    assert np.isfinite(learn.recorder.epochs[-1]["valid_loss"])


@pytest.mark.parametrize("name,write,match", [
    ("truncated.jpg", lambda p, good: p.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2]), "truncated"),
    # (a PNG cut in its last 20 bytes still decodes whole, so it is a usable image: the decode decides)
    ("truncated.png", lambda p, good: p.write_bytes(good.with_suffix(".png").read_bytes()[:-4000]), "truncated"),
    ("postscript.png", lambda p, good: p.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"),
     "not a readable image"),  # opened by its bytes as EPS, PIL would run Ghostscript: refused
    ("huge.png", lambda p, good: huge_png(p), "too many pixels"),
    ("text.jpg", lambda p, good: p.write_text("hello"), "not a readable image"),
    ("empty.png", lambda p, good: p.write_bytes(b""), "not a readable image"),
])
def test_broken_files_are_named_before_any_training(make_folder, tmp_path, name, write, match):
    root = make_folder({"a": 4, "b": 4})
    good = tmp_path / "good.jpg"  # noisy, so that half the file is past the headers, in the pixel data
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8))
    noise.save(good, quality=90)
    noise.save(good.with_suffix(".png"))
    write(root / "b" / name, good)
    with pytest.raises(nbt.BadImageError, match=rf"(?s)1 file\(s\) cannot be used as images.*{name}.*{match}"):
        nbt.ImageData.from_folder(root)


def test_bad_files_can_be_skipped_with_a_warning_that_lists_them(make_folder):
    root = make_folder({"a": 6, "b": 6})
    (root / "a" / "bad1.png").write_bytes(b"junk")
    (root / "b" / "bad2.jpg").write_bytes(b"junk")
    with pytest.warns(UserWarning, match=r"(?s)left out 2 file\(s\).*bad1\.png.*bad2\.jpg"):
        data = nbt.ImageData.from_folder(root, size=32, bs=4, bad_images="skip", valid_pct=0.25)
    assert len(data.train) + len(data.valid) == 12
    nbt.Learner(data).fit(1e-2)  # the good files train


def test_skipping_that_empties_a_class_is_an_error_and_a_bad_policy_is_named(make_folder):
    root = make_folder({"a": 4, "b": 1})
    (root / "b" / "000.png").write_bytes(b"junk")
    with pytest.raises(nbt.BadImageError, match=r"class folder\(s\) \['b'\] hold no usable image"):
        nbt.ImageData.from_folder(root, bad_images="skip")
    with pytest.raises(ValueError, match=r"bad_images='ignore': expected one of \('error', 'skip'\)"):
        nbt.ImageData.from_folder(root, bad_images="ignore")


def test_a_class_folder_with_no_images_is_named_and_left_out(make_folder):
    root = make_folder({"a": 4, "b": 4})
    (root / "c").mkdir()
    (root / "c" / "readme.txt").write_text("no images here")
    (root / "d").mkdir()  # an upload that was all refused, or undone: an empty class must not block training
    with pytest.warns(UserWarning, match=r"folder\(s\) \['c', 'd'\] hold no image: not classes"):
        assert nbt.ImageData.from_folder(root, size=32).classes == ["a", "b"]
    (root / "a").rename(root / "e")
    for f in (root / "e").iterdir():
        f.unlink()
    with pytest.raises(FileNotFoundError, match=r"(?s)Couldn't find any class folder holding images.*Expected one"):
        nbt.ImageData.from_folder(root / "e")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nbt.ImageData.from_folder(make_folder({"x": 3, "y": 3}, root=root.parent / "fine"))


def test_a_phone_jpeg_with_data_after_its_end_marker_is_a_good_image(make_folder, tmp_path):
    root = make_folder({"a": 4, "b": 4})
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    (root / "b" / "motion-photo.jpg").write_bytes(buf.getvalue() + os.urandom(4096))  # a trailer, as phones add
    data = nbt.ImageData.from_folder(root, size=32)
    assert len(data.train) + len(data.valid) == 9
