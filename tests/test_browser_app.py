"""The code-free app (``voila notebooks/app.ipynb``) in Chromium at a laptop's size, used as a class would:
it opens on the students' pictures, above the fold; a step runs and the LR curve takes a click; the pictures tab
shows images; two classes are made and pictures uploaded through the Pictures button (an over-limit choice is refused with a message); the checklist starts again on them and trains; a relabel and a delete
are applied from the top losses and undone, checked on disk; no console error from our widgets.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from . import test_browser
from .test_browser import (ROOT, STEP_TIMEOUT, VISIBLE, check_take_home, click_lr_curve, free_port, laptop_page,
                           launch, open_tab, run_step, shot, stop_server, take_home)

browser = test_browser.browser  # the same Chromium fixture


def start_voila(root: Path, *options: str, fast: bool = True):
    """Voilà serving ``root/app.ipynb`` on 127.0.0.1 as the README says (``nbtrainer app``: nbtrainer's page
    template; no token unless ``options`` set one), the kernel with the fast settings unless ``fast`` is False."""
    port = free_port()
    env = {**os.environ, "NBTRAINER_NOTEBOOK_FAST": "1" if fast else "0"}
    cmd = [sys.executable, "-m", "nbtrainer", "app", "app.ipynb", "--no-browser", f"--port={port}",
           "--Voila.ip=127.0.0.1", *options]
    return launch(cmd, env, root.parent / f"voila{len(options)}.log", f"http://127.0.0.1:{port}", "/api/kernels",
                  cwd=root)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("voila") / "root"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "app.ipynb", root)
    shutil.copy(ROOT / "voila.json", root)  # Voila reads it from where it runs (as from the repository's root)
    server, url = start_voila(root)
    yield url, root
    stop_server(server)


def pictures(folder: Path, kind: str, n: int = 8, prefix: str = "") -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        rng = np.random.default_rng(i)
        base = np.array([200, 40, 40] if kind == "red" else [40, 40, 200], dtype=float)
        pixels = np.clip(base + rng.normal(0, 25, (40, 40, 3)), 0, 255).astype(np.uint8)
        paths.append(str(folder / f"{prefix}{kind}{i}.png"))
        Image.fromarray(pixels).save(paths[-1])
    return paths


def files(root: Path) -> dict[str, bytes]:
    """The images of the session's data folder (relative path -> bytes), the hidden trash left out."""
    data = next(root.glob("nbtrainer-session/*/data"))
    return {str(p.relative_to(data)): p.read_bytes() for p in data.rglob("*.png") if ".nbtrainer" not in p.parts}


def confirm(page, text: str) -> None:
    page.wait_for_selector(f".nbt-confirm-text:visible:has-text({json.dumps(text)})", timeout=30_000)
    page.click(".nbt-confirm-yes:visible")  # the bar of the tab the question was asked in
    page.wait_for_selector(".nbt-confirm:visible", state="detached", timeout=30_000)


def wait_message(page, css: str, text: str) -> None:
    """Wait for the message line ``css`` of the page on show to say ``text`` (it says what it says otherwise)."""
    try:
        page.wait_for_selector(f"{css}:visible:has-text({json.dumps(text)})", timeout=30_000)
    except Exception:
        raise AssertionError(f"message {page.locator(css).inner_text()!r}, expected {text!r}") from None


def add_class(page, name: str, paths: list[str]) -> None:
    page.fill(".nbt-class-name input", name)
    with page.expect_file_chooser() as chooser:  # the student clicks "Pictures" and picks the files
        page.click(".nbt-images-upload .nbt-upload-button")
    chooser.value.set_files(paths)
    page.wait_for_selector(f".nbt-images-upload:has-text('({len(paths)})')", timeout=30_000)
    page.click(".nbt-add-images")
    confirm(page, f"as class '{name}'")
    page.wait_for_selector(f".nbt-data-message:has-text({json.dumps(f'in {name!r}')})", timeout=30_000)


def try_picture(page, path: str) -> None:
    with page.expect_file_chooser() as chooser:  # "4. Try it": the student picks one picture
        page.click(".nbt-upload .nbt-upload-button")
    chooser.value.set_files([path])


def test_a_class_uses_the_app_in_voila(browser, app, tmp_path):
    url, root = app
    page, errors = laptop_page(browser, offline=True)  # no request to another host, no version warning
    page.goto(url)
    page.wait_for_selector(".nbt-trainer", timeout=STEP_TIMEOUT)
    assert "import nbtrainer" not in page.content()  # no code on the page
    for sel in (".nbt-class-name input", ".nbt-images-upload .nbt-upload-button", ".nbt-add-images"):
        assert page.evaluate(VISIBLE, sel), f"{sel}: not on screen at opening"  # a class starts with its pictures
    open_tab(page, "2. Train")
    run_step(page, 0)
    run_step(page, 1)
    assert "Chosen LR" in click_lr_curve(page)
    page.wait_for_selector(".nbt-next-lr:has-text('clicked on the curve')", timeout=30_000)
    shot(page, "voila-app.png")

    open_tab(page, "1. Your pictures")
    page.click(".nbt-data-refresh")
    page.wait_for_selector(".nbt-samples img", timeout=60_000)
    assert page.locator(".nbt-aug-preview img").count() == 8
    assert "up to 8 MB a picture" in page.locator(".nbt-upload-limit").inner_text()  # the limit, stated
    big = tmp_path / "phone-photo.jpg"
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # over the limit: refused in the browser, nothing sent
    with page.expect_file_chooser() as chooser:
        page.click(".nbt-images-upload .nbt-upload-button")
    chooser.value.set_files([str(big)])
    page.wait_for_selector(".nbt-data-message:has-text('not sent: 1 picture(s) over 8 MB')", timeout=30_000)
    add_class(page, "red", pictures(tmp_path / "red", "red"))
    add_class(page, "blue", pictures(tmp_path / "blue", "blue"))
    assert sorted(files(root)) == sorted([f"blue/blue{i}.png" for i in range(8)] + [f"red/red{i}.png" for i in range(8)])
    page.click(".nbt-use-folder")
    confirm(page, "The checklist starts again")
    page.wait_for_selector(".nbt-trainer:has-text('2 classes (blue, red)')", timeout=60_000)
    page.wait_for_selector(".nbt-page-choice button.mod-active:has-text('2. Train')")  # what comes next
    for i in range(3):  # precompute, lr_find, the head: on the students' pictures
        run_step(page, i)
    shot(page, "voila-own-images.png")
    assert "update failed" not in page.locator(".nbt-trainer").inner_text()  # every view drew every update

    open_tab(page, "4. Try it")  # a picture it never saw; an over-limit one; the same one again
    red = pictures(tmp_path / "try", "red", 1, prefix="new-")[0]
    try_picture(page, red)
    page.wait_for_selector(".nbt-prediction b:has-text('red')", timeout=60_000)
    try_picture(page, str(big))
    page.wait_for_selector(".nbt-prediction:has-text('not sent: 1 picture(s) over 8 MB')", timeout=30_000)
    assert not page.locator(".nbt-try-image").is_visible()  # not the picture of the answer before
    try_picture(page, red)  # the picker still works, for the same file too
    page.wait_for_selector(".nbt-prediction b:has-text('red')", timeout=60_000)
    check_take_home(take_home(page, root), tmp_path, ["blue", "red"])  # Voila serves no file: the bytes come by the widget

    open_tab(page, "3. Check mistakes")
    page.click(".nbt-interpret")
    page.wait_for_selector(".nbt-clean-choice select", timeout=STEP_TIMEOUT)
    before = files(root)
    cells = page.locator(".nbt-top-losses > .widget-vbox")
    actual = cells.nth(0).locator("small").inner_text().split(" / ")[1]
    cells.nth(0).locator("select").select_option("red" if actual == "blue" else "blue")
    cells.nth(1).locator("select").select_option("delete")
    page.click(".nbt-clean-apply")
    confirm(page, "Apply 2 change(s)")
    wait_message(page, ".nbt-clean-message", "changed the files")  # said here, where the student is
    choices = page.locator(".nbt-clean-choice select")
    page.wait_for_function("[...document.querySelectorAll('.nbt-clean-choice select')].every(s => s.options[s.selectedIndex].text === 'keep')")
    assert choices.count() > 0 and "predicted / actual / loss" in page.locator(".nbt-top-losses-legend").inner_text()
    after = files(root)
    assert len(after) == len(before) - 1 and sorted(after.values()) != sorted(before.values())
    moved = [k for k in after if k not in before]
    assert len(moved) == 1 and moved[0].split("/")[0] != actual  # the relabelled file is in the other class
    page.click(".nbt-clean-undo")
    confirm(page, "Undo the last change")
    wait_message(page, ".nbt-clean-message", "undone")
    assert files(root) == before
    shot(page, "voila-cleaned.png")
    assert page.locator("text=Error displaying widget").count() == 0
    assert not errors, sorted(set(errors))
    page.close()


def status(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=30).status
    except urllib.error.HTTPError as e:
        return e.code


def test_three_students_on_one_server_keep_their_work_apart_and_all_train(browser, app, tmp_path):
    url, root = app
    pages = []
    for s in range(3):  # three students open the app at once
        page, errors = laptop_page(browser)
        page.goto(url)
        pages.append((page, errors))
    for s, (page, _) in enumerate(pages):
        page.wait_for_selector(".nbt-trainer", timeout=STEP_TIMEOUT)  # on their pictures' tab
        add_class(page, "red", pictures(tmp_path / f"s{s}", "red", 4, prefix=f"s{s}-"))
        add_class(page, "blue", pictures(tmp_path / f"s{s}", "blue", 4, prefix=f"s{s}-"))
    folders = {}
    for s in range(3):  # each student's pictures are in one session folder, alone
        mine = [d for d in root.glob("nbtrainer-session/*/data") if (d / "red" / f"s{s}-red0.png").exists()]
        assert len(mine) == 1, mine
        names = {p.name for p in mine[0].rglob("*.png") if ".nbtrainer" not in p.parts}
        assert names == {f"s{s}-{k}{i}.png" for k in ("red", "blue") for i in range(4)}
        folders[s] = mine[0]
    assert len(set(folders.values())) == 3
    # a picture of one session is not served to anyone (Voila's file route, empty token)
    picture = (folders[0] / "red" / "s0-red0.png").relative_to(root).as_posix()
    assert status(f"{url}/voila/files/{picture}") in (403, 404)
    for page, _ in pages:
        page.click(".nbt-use-folder")
        confirm(page, "The checklist starts again")
        page.wait_for_selector(".nbt-trainer:has-text('2 classes (blue, red)')", timeout=60_000)
    for i in range(3):  # precompute, lr_find, the head: started together, they take turns at the CPU
        for page, _ in pages:
            page.click(f".nbt-step-{i} .nbt-run")
        for page, _ in pages:
            page.wait_for_selector(f".nbt-step-{i}.nbt-status-done", timeout=STEP_TIMEOUT)
    for page, errors in pages:
        assert page.locator("text=Error displaying widget").count() == 0
        assert not errors, sorted(set(errors))
        page.close()


def test_voila_with_a_token_shows_the_app_only_with_it(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "app.ipynb", root)
    shutil.copy(ROOT / "voila.json", root)
    server, url = start_voila(root, "--token=class-of-2026")
    try:
        for without in ("/", "/?token=wrong", "/voila/render/app.ipynb"):  # sent to the log-in page, no app
            assert urllib.request.urlopen(url + without, timeout=60).url.startswith(f"{url}/login?")
        page = urllib.request.urlopen(url + "/?token=class-of-2026", timeout=120)
        assert page.url == url + "/?token=class-of-2026" and b"application/vnd.jupyter.widget-view+json" in page.read()
    finally:
        stop_server(server)
