"""The README's screenshots, from a real run of the app as a class uses it: ``python docs/screenshots.py``
(after the test install; about 2 minutes on 2 CPU cores). Voilà serves ``notebooks/app.ipynb`` with its full
settings (``nbtrainer app``, as a teacher starts it); Chromium at a laptop's 1366x768 does what a student does:
makes three classes of their own pictures (cat, coffee, rocket: square crops of real photos that
scikit-image ships, of the sizes a phone's pictures are shrunk to), trains on the folder, runs every step,
picks each LR on the curve at its suggestion, looks at the mistakes and tries a picture it never saw (a crop
from a part of the photo no training picture came from). Chromium's camera is a fake one playing a video made
from the cat photo (tests/camera_video.py): "4. Try it" classifies it live, and "1. Your pictures" records a
burst of frames for a class. Last, the web page the student takes home (Take it home: Web page), unzipped and
served on 127.0.0.1, given three pictures and the camera. The shots are of the screen as the student sees it.

Writes docs/app-pictures.png, docs/app-lr-finder.png, docs/app-training.png, docs/app-mistakes.png,
docs/app-try-it.png, docs/app-camera-try-it.png, docs/app-camera.png, docs/web-page.png; prints each step's
result, the web page's size and first prediction time, and any console error.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.quality_data import PHOTOS, random_crops  # noqa: E402
from tests.camera_video import y4m_from_photo  # noqa: E402
from tests.test_browser import (CHROMIUM, STEP_TIMEOUT, in_view_together, laptop_page, open_tab,  # noqa: E402
                                record, run_step, stop_server)
from tests.test_browser_app import add_class, confirm, start_voila  # noqa: E402
from tests.test_export_web import camera_args, serve_folder  # noqa: E402

DOCS = ROOT / "docs"
CLASSES = {"cat": "chelsea", "coffee": "coffee", "rocket": "rocket"}  # a class's name: the photo it comes from
PER_CLASS, SIDE = 24, 160  # pictures a class, px a side
SHARE = 0.75  # the pictures come from the left 75% of each photo; the picture to try, from the rest


def class_pictures(folder: Path, seed: int = 0) -> tuple[dict[str, list[str]], str]:
    """Each class's pictures as files (name -> paths), and one picture of each class (the cat's first) from
    the part of its photo they do not cover."""
    rng = np.random.default_rng(seed)
    pictures = {}
    for name, photo in CLASSES.items():
        image = PHOTOS[photo]().convert("RGB")
        (folder / name).mkdir(parents=True)
        pictures[name] = []
        for i, crop in enumerate(random_crops(image, (0, int(image.size[0] * SHARE)), PER_CLASS, SIDE, rng)):
            pictures[name].append(str(folder / name / f"{name}-{i:02d}.jpg"))
            crop.save(pictures[name][-1], quality=90)
    image = PHOTOS["chelsea"]().convert("RGB")
    unseen = []
    for name, photo in CLASSES.items():
        image = PHOTOS[photo]().convert("RGB")
        unseen.append(str(folder / f"try-me-{name}.jpg"))
        next(random_crops(image, (int(image.size[0] * SHARE), image.size[0]), 1, SIDE, rng)).save(unseen[-1], quality=90)
    return pictures, unseen


def click_suggestion(page) -> str:
    """Click the LR-finder curve where its suggestion (the triangle, the plot's only dot before a pick) is, as
    a student who agrees with it would; returns the label."""
    page.locator(".nbt-plot-choice button:has-text('LR finder')").click()
    time.sleep(1)
    box = page.evaluate("""() => {  // the orange triangle: the other dots are the pick and the LR in use
        const dot = [...document.querySelectorAll('.nbt-lr-plot .dot')]
            .find(d => getComputedStyle(d).fill === 'rgb(255, 127, 14)');
        const r = dot.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; }""")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2 + 12)
    page.wait_for_selector(".nbt-lr-label:has-text('Chosen LR')", timeout=30_000)
    return page.locator(".nbt-lr-label").inner_text()


def screen(page, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    time.sleep(1)
    page.screenshot(path=str(DOCS / name))
    print("wrote", DOCS / name)


def main() -> None:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp())
    root = work / "root"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "app.ipynb", root)
    shutil.copy(ROOT / "voila.json", root)
    pictures, unseen = class_pictures(work / "my-pictures")
    server, url = start_voila(root, fast=False)
    try:
        with sync_playwright() as p:
            video = y4m_from_photo(np.asarray(PHOTOS["chelsea"]().convert("RGB")), work / "cat.y4m")
            browser = p.chromium.launch(executable_path=CHROMIUM, args=camera_args(video))
            page, errors = laptop_page(browser, offline=True)
            page.goto(url)
            page.wait_for_selector(".nbt-trainer", timeout=STEP_TIMEOUT)
            for name, paths in pictures.items():
                add_class(page, name, paths)
            page.click(".nbt-use-folder")
            confirm(page, "The checklist starts again")
            page.wait_for_selector(".nbt-trainer:has-text('3 classes (cat, coffee, rocket)')", timeout=120_000)
            open_tab(page, "1. Your pictures")
            page.click(".nbt-data-refresh")
            page.wait_for_selector(".nbt-aug-preview img", timeout=60_000)
            screen(page, "app-pictures.png")
            open_tab(page, "2. Train")
            run_step(page, 0)
            run_step(page, 1)
            print(click_suggestion(page))
            run_step(page, 2)
            in_view_together(page, 3)
            page.click(".nbt-plot-choice button:has-text('LR finder')")
            screen(page, "app-lr-finder.png")
            for i in range(3, 6):
                run_step(page, i)
            run_step(page, 6)
            print(click_suggestion(page))
            run_step(page, 7)
            run_step(page, 8)
            page.click(".nbt-step-7 .nbt-step-name")  # its training curves
            screen(page, "app-training.png")
            for i in range(9):
                print(i + 1, page.locator(f".nbt-step-{i} .nbt-detail").inner_text())
            open_tab(page, "3. Check mistakes")
            page.click(".nbt-interpret")
            page.wait_for_selector(".nbt-clean-choice select", timeout=STEP_TIMEOUT)
            screen(page, "app-mistakes.png")
            open_tab(page, "4. Try it")
            with page.expect_file_chooser() as chooser:
                page.click(".nbt-upload .nbt-upload-button")
            chooser.value.set_files(unseen[0])
            page.wait_for_selector(".nbt-prediction b", timeout=60_000)
            screen(page, "app-try-it.png")
            print("the unseen cat:", page.locator(".nbt-prediction").inner_text().replace("\n", "; "))
            camera_shots(page, work)
            print("console/page errors, requests to another host:", errors or "none")
            web_page_shot(browser, work, unseen)
            browser.close()
    finally:
        stop_server(server)


def camera_shots(page, work: Path) -> None:
    """The camera classified live in "4. Try it"; then a burst of frames recorded for a class in "1. Your
    pictures" (not added: they would be the video's cat); the web page downloaded from "Take it home"."""
    page.click(".nbt-camera-start:visible")
    page.wait_for_selector(".nbt-prediction b:has-text('cat')", timeout=60_000)
    time.sleep(2)
    screen(page, "app-camera-try-it.png")
    print("the camera, live:", page.locator(".nbt-prediction").inner_text().replace("\n", "; "))
    page.click(".nbt-camera-stop:visible")
    with page.expect_download(timeout=180_000) as saved:
        page.click(".nbt-download-web:visible")
    saved.value.save_as(work / "web-page.zip")
    open_tab(page, "1. Your pictures")
    page.fill(".nbt-class-name input", "my cat")
    page.click(".nbt-camera-start:visible")
    print("frames recorded:", record(page, 2.0))
    time.sleep(1)
    screen(page, "app-camera.png")
    page.click(".nbt-camera-stop:visible")


def web_page_shot(browser, work: Path, pictures: list[str]) -> None:
    """The web page, unzipped and served on 127.0.0.1: three pictures it never saw, then the camera."""
    with zipfile.ZipFile(work / "web-page.zip") as z:
        z.extractall(work / "home")
    folder = work / "home" / "web-page"
    with serve_folder(folder) as url:
        page, errors = laptop_page(browser, offline=True)
        page.goto(url)
        page.set_input_files("#pick", list(reversed(pictures)))
        page.wait_for_function(f"document.querySelectorAll('.result[data-done]').length === {len(pictures)}",
                               timeout=120_000)
        timings = page.evaluate("window.nbtrainerPage.timings")
        page.click("#camera")
        page.wait_for_function("document.querySelector('#live-top')?.dataset.top", timeout=60_000)
        time.sleep(2)
        screen(page, "web-page.png")
        size = sum(f.stat().st_size for f in folder.iterdir())
        print(f"web page: {size / 1e6:.1f} MB unzipped ({(work / 'web-page.zip').stat().st_size / 1e6:.1f} MB "
              f"zipped); the model ready {timings['loadedMs'] / 1000:.2f} s after the page began, the first "
              f"answer {timings['firstPredictionMs'] / 1000:.2f} s; a picture {min(timings['runs']):.0f}-"
              f"{max(timings['runs']):.0f} ms; errors: {errors or 'none'}")
        page.close()


if __name__ == "__main__":
    main()
