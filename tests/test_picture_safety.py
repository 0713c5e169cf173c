"""Pictures that cannot hurt: every image decoded before training (cached), size and aspect limits as errors,
a file that fails later left out by name, uploads refused file by file, odd folders (FIFOs, link loops, empty
classes, too many files) scanned safely; and a byte-flip fuzz of real photos in PNG, JPEG and GIF."""
from __future__ import annotations

import io
import os
import resource

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import nbtrainer as nbt
from nbtrainer.data import image_checks
from nbtrainer.data.image_checks import CheckCache, check_files, image_problem
from nbtrainer.data.scan import TooManyFilesError
from nbtrainer.data.sources import BadImageError, load_rgb
from nbtrainer.data.uploads import add_images


def encoded(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


PHOTO = Image.fromarray(__import__("skimage.data", fromlist=["chelsea"]).chelsea()).resize((120, 80))
SEEDS = {fmt: encoded(PHOTO if fmt != "GIF" else PHOTO.convert("P"), fmt) for fmt in ("PNG", "JPEG", "GIF")}


def test_a_thin_strip_and_a_huge_one_colour_png_are_refused_before_decoding(tmp_path, make_folder):
    thin, huge = tmp_path / "thin.png", tmp_path / "huge.png"
    Image.new("L", (20000, 1)).save(thin)
    Image.new("1", (13000, 13000)).save(huge)  # 20 KB on disk, 169 megapixels
    assert thin.stat().st_size < 200 and huge.stat().st_size < 60_000
    assert "over 20 times as wide as high" in image_problem(thin)
    assert "over the limit of 64,000,000" in image_problem(huge)
    for path in (thin, huge):
        with pytest.raises(BadImageError, match=str(path.name)):
            load_rgb(path)
    root = make_folder({"a": 6, "b": 6})
    for path in (thin, huge):
        (root / "a" / path.name).write_bytes(path.read_bytes())
    with pytest.warns(UserWarning, match=r"left out 2 file\(s\)"):
        data = nbt.ImageData.from_folder(root, size=32, bad_images="skip")
    assert len(data.train) + len(data.valid) == 12
    learn = nbt.Learner(data)  # the Try it tab's path: refused with the reason, no decode
    with pytest.raises(BadImageError, match="over 20 times"):
        learn.predict(thin.read_bytes())
    with pytest.raises(BadImageError, match="over 20 times"):
        learn.predict(np.zeros((1, 20000), np.uint8))


def test_decoding_every_image_finds_damaged_data_and_is_cached(tmp_path, make_folder, monkeypatch):
    root = make_folder({"a": 5, "b": 5})
    good = (root / "a" / "000.png").read_bytes()
    damaged = bytearray(encoded(PHOTO, "PNG"))
    damaged[len(damaged) // 2] ^= 0xFF  # header and IEND intact: only the decode fails
    (root / "b" / "damaged.png").write_bytes(bytes(damaged))
    assert image_checks.image_problem(bytes(damaged)) is not None
    cache = CheckCache(tmp_path / "checks.sqlite3")
    paths = sorted(str(p) for p in root.rglob("*.png"))
    assert list(check_files(paths, cache)) == [str(root / "b" / "damaged.png")]
    monkeypatch.setattr(image_checks, "image_problem", lambda p: pytest.fail(f"decoded {p} again"))
    assert list(check_files(paths, cache)) == [str(root / "b" / "damaged.png")]  # all from the cache
    monkeypatch.undo()
    (root / "b" / "damaged.png").write_bytes(good)  # fixed: a new size and mtime, so checked again
    assert check_files(paths, cache) == {}


def test_an_image_damaged_after_the_check_is_left_out_by_name_and_the_fit_goes_on(make_folder):
    root = make_folder({"a": 8, "b": 8})
    data = nbt.ImageData.from_folder(root, size=32, bs=4, valid_pct=0.25, num_workers=0)
    victim = data.train.source.path(data.train.indices[0])
    with open(victim, "r+b") as f:
        f.truncate(40)  # a file replaced by a broken one while the app was open
    learn = nbt.Learner(data)
    with pytest.warns(UserWarning, match=rf"cannot read image '{victim}'.*left out of this run"):
        learn.fit(1e-3, 1)
    assert len(learn.recorder.epochs) == 1


def test_uploads_refuse_file_by_file_and_keep_the_rest(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    png = encoded(PHOTO, "PNG")
    long_name = "猫" * 86 + ".png"  # 258 bytes in UTF-8: over the file system's 255
    files = [(long_name, png), ("a\0b.png", png), ("ok.png", png), ("photo.heic", b"....ftypheic"),
             ("strip.png", encoded(Image.new("L", (20000, 1)), "PNG"))]
    result = add_images(root, "cats", files)
    assert len(result.saved) == 2 and (root / "cats" / "ok.png").is_file()
    assert len(result.saved[0].name.encode()) <= 200 and result.saved[0].name.endswith(".png")
    assert set(result.rejected) == {"a\\0b.png", "photo.heic", "strip.png"}
    assert "control character" in result.rejected["a\\0b.png"] and "over 20 times" in result.rejected["strip.png"]
    assert str(tmp_path) not in result.message()
    refused = add_images(root, "dogs", [("photo.heic", b"....ftypheic")])
    assert refused.saved == [] and not (root / "dogs").exists()  # no empty class folder left behind
    for reserved in ("train", "valid", "Test"):
        with pytest.raises(ValueError, match="is reserved"):
            add_images(root, reserved, [("ok.png", png)])


def test_fifos_link_loops_empty_classes_and_too_many_files_are_scanned_safely(make_folder):
    root = make_folder({"a": 4, "b": 4})
    os.mkfifo(root / "a" / "x.png")  # reading it would block for ever
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    (root / "b" / "broken.png").symlink_to(root / "nowhere.png")
    (root / "empty").mkdir()
    with pytest.warns(UserWarning, match=r"\['empty'\] hold no image"):
        data = nbt.ImageData.from_folder(root, size=32, valid_pct=0.25)
    assert len(data.train) + len(data.valid) == 8 and data.classes == ["a", "b"]
    with pytest.raises(TooManyFilesError, match="more than 5 files and folders"):
        nbt.ImageData.from_folder(root, size=32, max_files=5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(sorted(SEEDS)), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)),
                                                           min_size=1, max_size=4), cut=st.booleans())
def test_no_mutated_picture_passes_the_check_and_then_fails_or_grows(fmt, flips, cut):
    data = bytearray(SEEDS[fmt])
    for where, xor in flips:
        data[min(len(data) - 1, int(where * len(data)))] ^= xor
    if cut:
        data = data[: len(data) * 3 // 4]
    problem = image_problem(bytes(data))
    if problem is None:  # passed: it must load, be small, and go through the pipeline
        image = load_rgb(io.BytesIO(bytes(data)))
        assert image.width * image.height <= image_checks.MAX_PIXELS
        from nbtrainer.data.transforms import make_transform
        assert make_transform(32, augment=True)(image).shape == (3, 32, 32)
    else:  # refused at load time too, with the same kind of error: never a crash of another kind
        with pytest.raises(BadImageError):
            load_rgb(io.BytesIO(bytes(data)))


def test_a_folder_of_mutated_pictures_trains_without_a_crash_within_a_memory_bound(tmp_path, make_folder):
    root = make_folder({"a": 6, "b": 6})
    rng = np.random.default_rng(0)
    for k in range(30):
        fmt = ("PNG", "JPEG", "GIF")[k % 3]
        data = bytearray(SEEDS[fmt])
        for _ in range(3):
            data[rng.integers(len(data))] ^= int(rng.integers(1, 256))
        (root / ("a", "b")[k % 2] / f"fuzz{k}.{fmt.lower()}").write_bytes(bytes(data))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data = nbt.ImageData.from_folder(root, size=32, bs=8, bad_images="skip", num_workers=0)
    nbt.Learner(data).fit(1e-3, 1)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 1024, f"the peak memory grew by {grown_mib:.0f} MiB"


@pytest.mark.parametrize("orientation, turned", [(1, False), (3, False), (6, True), (8, True)])
def test_a_photo_stored_sideways_is_loaded_upright_as_a_browser_shows_it(tmp_path, orientation, turned):
    """A phone stores a portrait photo sideways with an EXIF orientation; browsers (and so the exported web page)
    turn it upright: training, predict and the page must see the same picture."""
    pixels = np.zeros((60, 100, 3), np.uint8)
    pixels[:, :50] = 255  # white on the left, as stored
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", quality=95, exif=exif)
    loaded = np.asarray(load_rgb(tmp_path / "phone.jpg"))
    assert loaded.shape == ((100, 60, 3) if turned else (60, 100, 3))
    bright = loaded.mean(axis=2) > 128
    expected = {1: bright[:, :40].all(), 3: bright[:, 60:].all(),  # 3: turned half a turn: white on the right
                6: bright[:40].all(), 8: bright[60:].all()}[orientation]  # 6 / 8: a quarter turn one way / the other
    assert expected
