"""The classifier taken home without Python: ``learn.export_onnx`` checked with onnxruntime, and
``learn.export_web``'s page run in Chromium from a local HTTP server, both against ``learn.predict`` on real
photos (scikit-image's) and digits."""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import sys
import threading
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image, ImageOps

from nbtrainer.export.web_page import MARKER, zip_folder

from .conftest import digit_png, small_learner
from .test_browser import browser, laptop_page  # noqa: F401  (the module's Chromium)


@pytest.fixture(scope="module")
def trained():
    learn = small_learner(n=120)
    learn.fit(2e-3, n_cycle=2)
    return learn


def real_pictures(learn, folder: Path) -> list[Path]:
    """10 real pictures of many shapes: scikit-image's photos (colour, grey, tall, wide, small; PNG and JPEG;
    one stored sideways with the EXIF tag a phone writes for a portrait photo) and two digits."""
    from skimage import data

    folder.mkdir(exist_ok=True)
    arrays = {"chelsea.png": data.chelsea(), "coffee.jpg": data.coffee(), "rocket.png": data.rocket(),
              "astronaut-tall.png": data.astronaut()[:, 100:300], "camera-grey.png": data.camera(),
              "hubble-wide.png": data.hubble_deep_field()[:200],
              "retina-small.png": np.asarray(Image.fromarray(data.retina()).resize((40, 30)))}
    paths = []
    for name, pixels in arrays.items():
        Image.fromarray(pixels).save(folder / name, quality=90)
        paths.append(folder / name)
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to view": the browser turns it, and so must nbtrainer
    Image.fromarray(data.stereo_motorcycle()[0]).save(folder / "motorcycle-portrait.jpg", quality=90, exif=exif)
    paths.append(folder / "motorcycle-portrait.jpg")
    for i in range(2):
        digit_png(learn, i, folder / f"digit-{i}.png")
        paths.append(folder / f"digit-{i}.png")
    return paths


def test_the_onnx_file_predicts_like_learn_predict(trained, tmp_path):
    path = trained.export_onnx(tmp_path / "digits.onnx")
    model = onnx.load(path)
    onnx.checker.check_model(model)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [18]
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["classes"]) == trained.data.classes and meta["size"] == str(trained.data.size)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.onnx"]  # one file, no external weights
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for picture in real_pictures(trained, tmp_path / "pictures"):
        upright = ImageOps.exif_transpose(Image.open(picture)).convert("RGB")  # as the module's docstring says
        probs = session.run(None, {"image": np.asarray(upright)})[0]
        label, expected = trained.predict(picture)
        assert trained.data.classes[int(probs.argmax())] == label
        worst = max(worst, float(np.abs(probs - expected.numpy()).max()))
    assert worst < 1e-4, f"onnxruntime and learn.predict differ by {worst}"
    print(f"\nONNX: {path.stat().st_size / 1e6:.1f} MB, opset 18; the largest difference {worst:.1e}")


@pytest.fixture(scope="module")
def web_page(trained, tmp_path_factory):
    folder = trained.export_web(tmp_path_factory.mktemp("export") / "digits-page")
    with serve_folder(folder) as url:
        yield folder, url


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # (the test's output, not a log line per file)
        pass


@contextlib.contextmanager
def serve_folder(folder: Path):
    """``folder`` served over HTTP on 127.0.0.1 (a free port) while the block runs; yields its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def test_the_web_page_predicts_like_learn_predict_in_chromium(trained, web_page, browser, tmp_path):  # noqa: F811
    folder, url = web_page
    pictures = real_pictures(trained, tmp_path / "pictures")
    page, errors = laptop_page(browser, offline=True)
    page.goto(url)
    page.wait_for_function("window.nbtrainerPage && window.nbtrainerPage.timings.loadedMs !== null", timeout=60_000)
    page.set_input_files("#pick", [str(p) for p in pictures])
    page.wait_for_function(f"document.querySelectorAll('.result[data-done]').length === {len(pictures)}",
                           timeout=120_000)
    rows = page.eval_on_selector_all(".result", """items => items.map(i => [i.dataset.file,
        i.querySelector('.top3').dataset.probs, i.dataset.error, i.querySelector('.row .name')?.textContent])""")
    worst = 0.0
    for name, probs, error, top in rows:
        assert error is None, error
        label, expected = trained.predict(tmp_path / "pictures" / name)
        worst = max(worst, float(np.abs(np.array(json.loads(probs)) - expected.numpy()).max()))
        assert top == label
    assert worst < 1e-3, f"the page and learn.predict differ by {worst}"
    assert page.locator("#status").text_content().startswith("Ready")
    assert errors == []
    timings = page.evaluate("window.nbtrainerPage.timings")
    size = sum(f.stat().st_size for f in folder.iterdir())
    print(f"\nweb page: {size / 1e6:.1f} MB; model loaded {timings['loadedMs'] / 1000:.2f} s after the page "
          f"began, first prediction {timings['firstPredictionMs'] / 1000:.2f} s; runs "
          f"{np.median(timings['runs']):.0f} ms (median); largest difference {worst:.1e}")
    page.close()


def test_without_onnxscript_the_export_says_so_and_writes_nothing(trained, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if it were not installed
    for export in (trained.export_web, trained.export_onnx):
        with pytest.raises(ImportError, match="exporting to ONNX needs the 'onnx' and 'onnxscript' packages"):
            export(tmp_path / "new" / "page")
    assert list(tmp_path.iterdir()) == []


def test_the_page_names_what_it_cannot_classify(web_page, browser, tmp_path):  # noqa: F811
    _, url = web_page
    (tmp_path / "notes.png").write_bytes(b"not a picture")
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp_path / "tiny.png")
    Image.fromarray(np.zeros((8, 300, 3), np.uint8)).save(tmp_path / "strip.png")
    page, errors = laptop_page(browser, offline=True)
    page.goto(url)
    page.set_input_files("#pick", [str(tmp_path / n) for n in ("notes.png", "tiny.png", "strip.png")])
    page.wait_for_function("document.querySelectorAll('.result[data-done]').length === 3", timeout=60_000)
    said = {i.get_attribute("data-file"): i.get_attribute("data-error") for i in page.locator(".result").all()}
    assert "'notes.png' could not be classified" in said["notes.png"]
    assert "it is 5 x 5 px; expected 8 to 16384 px a side" in said["tiny.png"]
    assert "it is 300 x 8 px, over 20 times as wide as high" in said["strip.png"]  # as learn.predict refuses it
    assert errors == []
    page.close()


def test_the_page_opened_as_a_file_says_it_must_be_served(web_page, browser):  # noqa: F811
    folder, _ = web_page
    page, _ = laptop_page(browser)  # (the browser's own refusals are console errors here)
    page.goto(folder.joinpath("index.html").as_uri())
    page.wait_for_selector("#status.error:has-text('This page must be served, not opened as a file')", timeout=30_000)
    assert "python -m http.server" in page.locator("#status").text_content()
    page.close()


def test_export_web_refuses_a_folder_it_did_not_make_and_replaces_its_own(trained, tmp_path):
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "essay.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes' holds essay.txt, which an nbtrainer page does not"):
        trained.export_web(mine)
    assert [p.name for p in mine.iterdir()] == ["essay.txt"]
    page = trained.export_web(tmp_path / "page")
    (page / "index.html").write_text("old")
    assert trained.export_web(page) == page and "onnxruntime" in (page / "index.html").read_text() + "onnxruntime"
    assert (page / MARKER).is_file() and (page / "index.html").read_text() != "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".page.lock", "notes", "page"]  # no temporary folder left
    (page / "CNAME").write_text("my-classifier.example.org")  # published: a file of the student's own
    with pytest.raises(FileExistsError, match="holds CNAME, which an nbtrainer page does not"):
        trained.export_web(page)
    assert (page / "CNAME").is_file() and (page / MARKER).is_file()  # nothing changed
    with pytest.raises(FileExistsError, match="is a file; expected a new folder's name"):
        trained.export_web(mine / "essay.txt")
    with pytest.raises(NotADirectoryError, match="essay.txt' is a file; expected a folder to put 'page' in"):
        trained.export_web(mine / "essay.txt" / "page")
    with pytest.raises(IsADirectoryError, match="is a folder; expected a file name such as"):
        trained.export_onnx(mine)  # before the export's seconds of tracing
    archive = zip_folder(page, tmp_path / "page.zip")
    import zipfile
    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == sorted(f"page/{p.name}" for p in page.iterdir())


KEEP_STREAMS = """(() => {  // every camera stream the page gets, kept to check that each was stopped
  window.keptStreams = [];
  const get = navigator.mediaDevices && navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  if (get) navigator.mediaDevices.getUserMedia = async (c) => { const s = await get(c); keptStreams.push(s); return s; };
})()"""
CAMERAS_ON = "window.keptStreams.flatMap(s => s.getTracks()).filter(t => t.readyState === 'live').length"


def camera_args(video: Path | None, allowed: bool = True) -> list[str]:
    """Chromium's flags for a fake camera playing ``video`` (None: no camera at all); ``allowed``: the
    permission prompt answered yes (else the page is refused it). ``classroom.test`` is 127.0.0.1 under a name
    that is neither localhost nor https: a page there is not a secure context (as on a classroom's LAN)."""
    from .test_browser import ARGS

    args = [*ARGS, "--host-resolver-rules=MAP classroom.test 127.0.0.1"]
    args += ["--use-fake-ui-for-media-stream"] if allowed else []
    return args + (["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}"] if video else [])


@pytest.fixture(scope="module")
def cat_video(tmp_path_factory) -> Path:
    from skimage import data

    from .camera_video import y4m_from_photo

    return y4m_from_photo(data.chelsea(), tmp_path_factory.mktemp("video") / "cat.y4m")


def test_the_web_page_classifies_the_camera_live_and_says_why_it_cannot(web_page, cat_video, browser):  # noqa: F811
    from .test_browser import CHROMIUM

    _, url = web_page
    port = url.rsplit(":", 1)[1]
    cases = [(cat_video, True, url, None),
             (cat_video, True, f"http://classroom.test:{port}/", "The camera needs a page on https or on this computer (localhost)"),
             (cat_video, False, url, "The camera was not allowed"),
             (None, True, url, "No camera was found")]
    for video, allowed, address, refusal in cases:  # each a Chromium of its own (the flags are the browser's)
        other = browser.browser_type.launch(executable_path=CHROMIUM, args=camera_args(video, allowed))
        page, errors = laptop_page(other)
        page.add_init_script(KEEP_STREAMS)
        page.goto(address)
        page.wait_for_function("window.nbtrainerPage.timings.loadedMs !== null", timeout=60_000)
        page.evaluate("document.querySelector('#camera').click(); document.querySelector('#camera').click()")
        if refusal is None:  # live: the top 3, again and again (one frame at a time); Start twice: one camera
            page.wait_for_function("window.nbtrainerPage.timings.runs.length >= 3", timeout=60_000)
            probs = json.loads(page.locator("#live-top").get_attribute("data-probs"))
            assert abs(sum(probs) - 1) < 1e-4 and page.locator("#live-top .row").count() == 3
            page.click("#stop-camera")
            assert page.locator("#live").is_hidden()
            assert page.evaluate(CAMERAS_ON) == 0 and page.evaluate("window.keptStreams.length") == 1
        else:
            page.wait_for_selector(f"#status.error:has-text({json.dumps(refusal)})", timeout=30_000)
            assert page.locator("#live").is_hidden()
        assert errors == [], (address, errors)
        other.close()


class Tiny(torch.nn.Module):
    """A classifier small enough to export in a moment (the crash test exports once per disk change)."""

    def __init__(self, classes: int):
        super().__init__()
        self.conv, self.head = torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4, classes)

    def forward(self, x):
        return self.head(self.conv(x).mean(dim=(2, 3)))


def page_state(folder: Path) -> tuple[str, ...] | None:
    """Which whole page ``folder`` holds: its classes (from the page and the model, which must agree), None if
    there is no folder; a page that is not whole fails."""
    if not folder.exists():
        return None
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(["index.html", "classify.js", "camera.js", "model.onnx", "README.txt", MARKER, "ort.wasm.min.js",
                            "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm",
                            "LICENSE-onnxruntime-web.txt"]), names
    classes = json.loads((folder / MARKER).read_text())["classes"]
    meta = {p.key: p.value for p in onnx.load(folder / "model.onnx").metadata_props}
    assert json.loads(meta["classes"]) == classes and json.dumps(classes) in (folder / "index.html").read_text()
    return tuple(classes)


def test_export_web_killed_after_any_disk_change_leaves_the_old_page_or_the_new_one(tmp_path):
    """A child replaces a page (classes a, b) by a new one (x, y) and is killed after its k-th change to the
    disk, for every k; the folder then holds one whole page (after put_right, which the next export runs
    first), the old or the new, and nothing else is left beside it."""
    import os
    import signal

    from nbtrainer.export.web_page import export_web, put_right

    folder = tmp_path / "page"
    export_web(Tiny(2), 16, ["a", "b"], "tiny", folder)  # (also warms the exporter up for the children)
    seen, k = [], 0
    while True:
        k += 1
        pid = os.fork()
        if pid == 0:  # the child: killed at its k-th change, or done
            count = iter(range(1, 10_000))
            try:
                export_web(Tiny(2), 16, ["x", "y"], "tiny", folder,
                           step=lambda: next(count) == k and os.kill(os.getpid(), signal.SIGKILL))
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status)
        put_right(folder)
        state = page_state(folder)
        assert state in (("a", "b"), ("x", "y")), (k, state)
        assert sorted(p.name for p in tmp_path.iterdir()) == [".page.lock", "page"], k  # no temporary folder left
        seen.append(state)
        if not killed:
            break
        if state == ("x", "y"):  # the new page is in place: put the old one back for the next k
            export_web(Tiny(2), 16, ["a", "b"], "tiny", folder)
    assert seen[-1] == ("x", "y") and seen[0] == ("a", "b") and k > 10
    print(f"\nexport_web killed after each of its {k - 1} changes to the disk: always one whole page")
