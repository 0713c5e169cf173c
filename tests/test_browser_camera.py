"""The camera in the code-free app (Voila, Chromium with a fake camera playing a video of a real photo of a
cat): frames taken by holding the button land in the class folder, Undo takes them back; trained on them and
on uploaded coffee photos, "4. Try it" names the video's class live; the ONNX file and the web page a student
takes home give the same answers without Python's nbtrainer (onnxruntime; the page in Chromium, its camera too).
"""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from .test_browser import (CHROMIUM, ROOT, STEP_TIMEOUT, browser, laptop_page, open_tab,  # noqa: F401  (fixture)
                           record, run_step, stop_server)
from .test_browser_app import confirm, start_voila
from .test_export_web import (CAMERAS_ON, KEEP_STREAMS, camera_args, serve_folder,  # noqa: F401  (fixture)
                              cat_video)


@pytest.fixture(scope="module")
def camera_browser(cat_video, browser):  # noqa: F811  (a second Chromium from the same playwright)
    camera = browser.browser_type.launch(executable_path=CHROMIUM, args=camera_args(cat_video))
    yield camera
    camera.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("voila-camera") / "root"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "app.ipynb", root)
    shutil.copy(ROOT / "voila.json", root)
    server, url = start_voila(root)
    yield url, root
    stop_server(server)


def coffee_crops(folder: Path, n: int = 8) -> list[str]:
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    photo, rng, paths = data.coffee(), np.random.default_rng(0), []
    for i in range(n):
        top, left = rng.integers(0, 150), rng.integers(0, 300)
        paths.append(str(folder / f"coffee{i}.png"))
        Image.fromarray(photo[top:top + 250, left:left + 250]).save(paths[-1])
    return paths


def camera_files(root: Path) -> list[str]:
    data = next(root.glob("nbtrainer-session/*/data"), None)
    return [] if data is None else sorted(str(p.relative_to(data)) for p in data.glob("*/camera-*.jpg"))


def download(page, key: str, tmp_path: Path) -> Path:
    with page.expect_download(timeout=120_000) as saved:
        page.click(f".nbt-download-{key}:visible")
    path = tmp_path / saved.value.suggested_filename
    saved.value.save_as(path)
    return path


def test_a_class_takes_pictures_with_the_camera_and_takes_the_classifier_home(camera_browser, app, tmp_path):
    url, root = app
    page, errors = laptop_page(camera_browser, offline=True)
    page.add_init_script(KEEP_STREAMS)
    page.goto(url)
    page.wait_for_selector(".nbt-trainer", timeout=STEP_TIMEOUT)
    page.fill(".nbt-class-name input", "cat")
    page.evaluate("(b => { b.click(); b.click(); })(document.querySelector('.nbt-camera-start'))")  # twice: one camera
    page.wait_for_selector(".nbt-camera-shoot:visible", timeout=30_000)
    n = record(page, 1.5)  # held 1.5 s at 4 frames a second
    assert 4 <= n <= 9, n
    page.click(".nbt-add-images")
    confirm(page, f"Save {n} file(s) as class 'cat'")
    page.wait_for_selector(".nbt-data-message:has-text(\"in 'cat'\")", timeout=30_000)
    saved = camera_files(root)
    assert len(saved) == n and all(f.startswith("cat/") for f in saved)
    assert Image.open(next(root.glob(f"nbtrainer-session/*/data/{saved[0]}"))).size == (640, 480)
    page.click(".nbt-undo-edit")
    confirm(page, "Undo the last change")
    page.wait_for_selector(".nbt-data-message:has-text('undone')", timeout=30_000)
    assert camera_files(root) == []
    page.fill(".nbt-class-name input", "cat")  # again, to train on
    n = record(page, 2.0)
    page.click(".nbt-add-images")
    confirm(page, f"Save {n} file(s) as class 'cat'")
    page.fill(".nbt-class-name input", "coffee")
    with page.expect_file_chooser() as chooser:
        page.click(".nbt-images-upload .nbt-upload-button")
    chooser.value.set_files(coffee_crops(tmp_path / "coffee"))
    page.wait_for_selector(".nbt-images-upload:has-text('(8)')", timeout=30_000)
    page.click(".nbt-add-images")
    confirm(page, "Save 8 file(s) as class 'coffee'")
    page.click(".nbt-camera-stop:visible")
    page.click(".nbt-use-folder")
    confirm(page, "The checklist starts again")
    page.wait_for_selector(".nbt-trainer:has-text('2 classes (cat, coffee)')", timeout=60_000)
    for i in range(3):  # precompute, lr_find, the head
        run_step(page, i)

    open_tab(page, "4. Try it")  # the camera, classified live: the video is of a cat
    page.click(".nbt-camera-start:visible")
    page.wait_for_selector(".nbt-prediction b:has-text('cat')", timeout=60_000)
    assert "coffee:" in page.locator(".nbt-prediction").inner_text()  # the likeliest classes, with their chances
    answered = page.evaluate("document.querySelectorAll('.nbt-prediction').length")
    assert answered == 1 and not page.locator(".nbt-try-image").is_visible()
    open_tab(page, "2. Train")  # the tab left with the camera on: it goes off
    page.wait_for_function(f"{CAMERAS_ON} === 0", timeout=30_000)
    assert page.evaluate("window.keptStreams.length") == 2  # Start clicked twice got one camera; Try it's one
    open_tab(page, "4. Try it")

    onnx_path = download(page, "onnx", tmp_path)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert json.loads(session.get_modelmeta().custom_metadata_map["classes"]) == ["cat", "coffee"]
    zip_path = download(page, "web", tmp_path)
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(tmp_path / "unzipped")
    folder = tmp_path / "unzipped" / "web-page"
    assert (folder / "index.html").is_file() and (folder / "ort-wasm-simd-threaded.wasm").is_file()
    assert page.locator("text=Error displaying widget").count() == 0
    assert not errors, sorted(set(errors))
    page.close()

    with serve_folder(folder) as home_url:
        home, errors = laptop_page(camera_browser, offline=True)
        home.goto(home_url)
        picture = coffee_crops(tmp_path / "new", 9)[-1]  # one it never saw
        home.set_input_files("#pick", [picture])
        home.wait_for_selector(".result[data-done] .row", timeout=60_000)
        probs = json.loads(home.locator(".result .top3").get_attribute("data-probs"))
        expected = session.run(None, {"image": np.asarray(Image.open(picture).convert("RGB"))})[0]
        assert np.abs(np.array(probs) - expected).max() < 1e-3
        home.click("#camera")
        home.wait_for_function("document.querySelector('#live-top')?.dataset.top === 'cat'", timeout=60_000)
        assert errors == []
        home.close()


@pytest.mark.parametrize("video, allowed, refusal", [(None, True, "no camera was found on this computer"),
                                                      ("cat", False, "the camera was not allowed")])
def test_the_app_says_why_the_camera_cannot_start(app, browser, cat_video, video, allowed, refusal):  # noqa: F811
    url, _ = app
    other = browser.browser_type.launch(executable_path=CHROMIUM, args=camera_args(video and cat_video, allowed))
    try:
        page, errors = laptop_page(other, offline=True)
        page.goto(url)
        page.wait_for_selector(".nbt-trainer", timeout=STEP_TIMEOUT)
        page.click(".nbt-camera-start:visible")
        page.wait_for_selector(f".nbt-camera-status:visible:has-text({json.dumps(refusal)})", timeout=30_000)
        page.wait_for_selector(f".nbt-data-message:has-text({json.dumps(refusal)})", timeout=30_000)  # the app's line
        assert not page.locator(".nbt-camera-shoot").is_visible() and errors == []
        page.close()
    finally:
        other.close()
