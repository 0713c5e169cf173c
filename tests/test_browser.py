"""End to end in a real browser: JupyterLab 4 and Notebook 7 serve ``notebooks/recipe.ipynb``, Debian's
chromium (driven by playwright) runs it and clicks through the checklist as a student would.

Needs ``/usr/bin/chromium`` (the README's test command installs it: ``.ci/ensure-chromium``). Screenshots
go to ``test-artifacts/`` (or ``$NBTRAINER_ARTIFACTS``). Every server started here is stopped.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from nbtrainer.widget.app import PAGES

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
FAKE_CAMERA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]  # Chromium's test pattern
ARTIFACTS = Path(os.environ.get("NBTRAINER_ARTIFACTS", ROOT / "test-artifacts"))
STEP_TIMEOUT = 180_000  # ms; a step of the fast recipe takes seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(app: str, root: Path, fast: bool = True) -> tuple[subprocess.Popen, str]:
    """``jupyter lab`` or ``jupyter notebook`` on 127.0.0.1, no token, its own config (no news popup); the
    kernels get the notebooks' fast settings unless ``fast`` is False."""
    config = root.parent / f"{app}-config"
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    if app == "lab":  # the news popup can cover the page's bottom right (Notebook 7 has no such plugin)
        (config / "labconfig" / "page_config.json").write_text(json.dumps(
            {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "NBTRAINER_NOTEBOOK_FAST": "1" if fast else "0"}
    cmd = [sys.executable, "-m", "jupyter", app, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return launch(cmd, env, root.parent / f"{app}.log", f"http://127.0.0.1:{port}", "/api/status")


def launch(cmd: list[str], env: dict, log_path: Path, url: str, probe: str, cwd: Path | None = None):
    """Start a server (its output into ``log_path``) and wait until ``url + probe`` answers; ``(server, url)``."""
    server = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}{probe}", timeout=1)
            return server, url
        except urllib.error.HTTPError:  # an answer, even a refusal: the server is up
            return server, url
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.5)
    stop_server(server)
    raise RuntimeError(f"{cmd[2:4]} did not start: {log_path.read_text()[-2000:]}")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run .ci/ensure-chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS + FAKE_CAMERA)
        yield browser
        browser.close()


def serve(app: str, tmp_path_factory):
    root = tmp_path_factory.mktemp(app) / "root"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "recipe.ipynb", root)
    return (*start_server(app, root), root)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server, url, root = serve("lab", tmp_path_factory)
    yield url, root
    stop_server(server)


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory):
    server, url, root = serve("notebook", tmp_path_factory)
    yield url, root
    stop_server(server)


LAPTOP = {"width": 1366, "height": 768}
NOT_OURS = ("Failed to load resource",)  # a 404 of the server (a favicon, a workspace), not a widget's error


VERSION_WARNINGS = ("Unsatisfied version", "No satisfying version")  # JupyterLab packages that disagree


def laptop_page(browser, offline: bool = False):
    """A page at a laptop's size and the list its page errors and console errors go to. ``offline``: as a
    classroom without internet needs it: any request to another host than 127.0.0.1, any failed load and any
    warning of package versions that disagree are errors too."""
    page = browser.new_page(viewport=LAPTOP)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: (m.type == "error" and (offline or not m.text.startswith(NOT_OURS))
                                  or offline and m.text.startswith(VERSION_WARNINGS))
            and errors.append(f"console {m.type}: {m.text}"))
    if offline:
        page.on("request", lambda r: not r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:"))
                and errors.append(f"request to another host: {r.url}"))
    return page, errors


def open_and_run_all(browser, url: str):
    """A page at a laptop's size with recipe.ipynb open, every cell run (Run > Run All Cells), the widget
    shown. ``errors`` collects page errors, console errors and requests to another host from here on (a
    classroom without internet)."""
    page, errors = laptop_page(browser, offline=True)
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    time.sleep(2)  # the kernel may still be starting: the cells wait for it in the queue
    # Notebook 7.6.5 itself raises "Cannot read properties of undefined (reading 'schema')" while loading
    # its settings, with no extension and no cell run (seen with jupyterlab 4.6.6): only errors from here on
    # are ours to answer for.
    errors.clear()
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item:visible", has_text="Run All Cells").first.click()
    page.wait_for_selector(".nbt-trainer", timeout=STEP_TIMEOUT)
    return page, errors


PAGE_CONTENT = dict(zip(PAGES, (".nbt-class-name", ".nbt-checklist", ".nbt-interpret", ".nbt-prediction")))
# (what each top tab draws: the page is on show once that is visible)


def open_tab(page, name: str) -> None:
    """Click the app's top tab ``name`` ("1. Your pictures", "2. Train", ...) and wait until its page shows."""
    page.locator(".nbt-page-choice button", has_text=name).first.click()
    page.wait_for_selector(f".nbt-page-choice button.mod-active:has-text({json.dumps(name)})", timeout=30_000)
    page.wait_for_selector(f"{PAGE_CONTENT[name]}:visible", timeout=30_000)


VISIBLE = """sel => { const el = document.querySelector(sel); if (!el) return false;
    const r = el.getBoundingClientRect(); if (r.width === 0 || r.height === 0) return false;
    const hit = document.elementFromPoint(r.x + r.width / 2, r.y + Math.min(r.height / 2, 12));
    return el.contains(hit); }"""  # on screen and not covered (JupyterLab's bars, another panel)


def in_view_together(page, index: int) -> None:
    """With the app's top at the top of the notebook, step ``index``'s Run button and the plot on show are
    both on screen: a student never scrolls between the step and its plot."""
    page.locator(".nbt-trainer").evaluate("el => el.scrollIntoView({block: 'start'})")
    time.sleep(0.3)
    plot = ".nbt-plots-on .nbt-lr-plot" if page.locator(".nbt-plots-on .nbt-lr-plot").count() else ".nbt-plots-on .nbt-training-plot"
    for sel in (f".nbt-step-{index} .nbt-run", plot):
        assert page.evaluate(VISIBLE, sel), f"{sel} is not on screen at {page.viewport_size}"


def run_step(page, index: int, final: str = "done") -> None:
    in_view_together(page, index)
    page.click(f".nbt-step-{index} .nbt-run")
    page.wait_for_selector(f".nbt-step-{index}.nbt-status-{final}", timeout=STEP_TIMEOUT)


def click_lr_curve(page, fraction: float = 0.45) -> str:
    """Click the LR-finder plot area at ``fraction`` of its width; returns the label's text after the click."""
    box = page.locator(".nbt-lr-plot").bounding_box()
    page.mouse.click(box["x"] + box["width"] * fraction, box["y"] + box["height"] * 0.55)
    page.wait_for_selector(".nbt-lr-label:has-text('Chosen LR')", timeout=30_000)
    return page.locator(".nbt-lr-label").inner_text()


def set_input(page, selector: str, value: str) -> None:
    box = page.locator(selector)
    box.click()
    box.press("Control+a")
    box.type(value)
    box.press("Enter")


def peek(page) -> str:
    """Run the notebook's "peek from code" cell again and return its output: the kernel's state."""
    cell = page.locator(".jp-CodeCell", has_text='print("statuses:"').first
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    time.sleep(0.5)
    output = cell.locator(".jp-OutputArea-output")
    output.first.wait_for(timeout=30_000)
    return output.first.inner_text()


def take_home(page, root: Path) -> dict[str, bytes]:
    """Click each download button (script, model, report) and check that the browser saved the file the server
    wrote in the session folder, byte for byte; returns them by name."""
    saved = {}
    for key, name in (("script", "recipe.py"), ("model", "model.safetensors"), ("report", "report.html")):
        with page.expect_download(timeout=60_000) as download:
            page.click(f".nbt-download-{key}")
        assert download.value.suggested_filename == name
        data = Path(download.value.path()).read_bytes()
        server = [p.read_bytes() for p in root.glob(f"nbtrainer-session/*/{name}")]
        assert server == [data], f"{name}: the browser's copy differs from the server's"
        saved[name] = data
    page.wait_for_selector(".nbt-download-status:has-text('report.html')", timeout=30_000)
    return saved


def check_take_home(saved: dict[str, bytes], tmp_path: Path, classes: list[str]) -> None:
    """What the student took home works: the model file predicts with its classes, the script is Python that
    trains with nbtrainer, the report names the steps and needs no other host."""
    from nbtrainer import Predictor

    (tmp_path / "model.safetensors").write_bytes(saved["model.safetensors"])
    assert Predictor.from_file(tmp_path / "model.safetensors").classes == classes
    script = saved["recipe.py"].decode()
    compile(script, "recipe.py", "exec")
    assert "import nbtrainer" in script and ".fit(" in script
    report = saved["report.html"].decode()
    assert "Precompute" in report and "data:image/png;base64," in report and "://" not in report


def record(page, seconds: float) -> int:
    """Hold "Take pictures" down for ``seconds``; returns the frames waiting for "Add to class"."""
    shoot = page.locator(".nbt-camera-shoot:visible")
    shoot.hover()
    page.mouse.down()
    page.wait_for_timeout(int(seconds * 1000))
    page.mouse.up()
    page.wait_for_function("[...document.querySelectorAll('.nbt-camera-shoot')].some(b => /\\(\\d+\\)/.test(b.textContent))",
                           timeout=30_000)  # the count shows once the burst has ended (its last frame sent)
    return int(shoot.inner_text().rsplit("(", 1)[1].rstrip(")"))


def camera_pictures(page, root: Path, name: str) -> None:
    """A class made with the camera (Chromium's fake one): its frames saved in the session's data folder."""
    open_tab(page, "1. Your pictures")
    page.fill(".nbt-class-name input", name)
    page.click(".nbt-camera-start:visible")
    n = record(page, 1.0)
    page.click(".nbt-add-images")
    page.wait_for_selector(f".nbt-confirm-text:visible:has-text(\"Save {n} file(s) as class '{name}'\")", timeout=30_000)
    page.click(".nbt-confirm-yes:visible")
    page.wait_for_selector(f".nbt-data-message:has-text(\"in '{name}'\")", timeout=30_000)
    page.click(".nbt-camera-stop:visible")
    assert len(list(root.glob(f"nbtrainer-session/*/data/{name}/camera-*.jpg"))) == n >= 2


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".nbt-trainer").screenshot(path=str(ARTIFACTS / name))


def test_a_student_clicks_through_the_recipe_in_jupyterlab(browser, lab, tmp_path):
    url, root = lab
    page, errors = open_and_run_all(browser, f"{url}/lab/tree/recipe.ipynb")
    open_tab(page, "2. Train")
    rows = page.locator(".nbt-step").count()
    assert rows == 9
    run_step(page, 0)                                     # precompute
    run_step(page, 1)                                     # lr_find: the curve is drawn
    label = click_lr_curve(page)                          # the student picks the LR on the curve
    chosen = float(label.split("Chosen LR:")[1].split()[0])
    page.wait_for_selector(".nbt-next-lr:has-text('clicked on the curve')", timeout=30_000)
    run_step(page, 2)
    assert f"{chosen:.2g}" in page.locator(".nbt-step-2 .nbt-detail").inner_text()   # the fit used it
    run_step(page, 3)                                     # augmentation
    page.click(".nbt-step-2 .nbt-step-name")              # a fit step, selected: its training curves show
    page.wait_for_selector(".nbt-training-plot:visible", timeout=30_000)
    run_step(page, 4)                                     # unfreeze: next, the differential LRs
    page.wait_for_selector(".nbt-ratio-slider:visible", timeout=30_000)  # the sliders show at their own step
    run_step(page, 5)
    assert page.locator(".nbt-ratio-slider").first.is_visible()
    run_step(page, 6)                                     # lr_find again: the pick is replaced
    set_input(page, ".nbt-ratio-slider >> nth=0 >> .widget-readout", "5")   # body 2 / body 1: 5x
    page.wait_for_function("document.querySelector('.nbt-group-lrs').innerText.includes('early layers: ')")
    page.click(".nbt-step-7 .nbt-step-name")                               # its parameters, in the detail area
    set_input(page, ".nbt-step-detail-7 .nbt-param-n_cycle input", "3")    # 1 + 2 + 4 epochs: long enough
    page.click(".nbt-step-7 .nbt-run")
    page.wait_for_selector(".nbt-step-7.nbt-status-running", timeout=60_000)
    time.sleep(1.0)
    page.click(".nbt-stop")
    page.wait_for_selector(".nbt-step-7.nbt-status-stopped", timeout=60_000)
    page.wait_for_selector(".nbt-message:has-text('you pressed Stop')", timeout=30_000)  # said, not "stopping..."
    detail = page.locator(".nbt-step-7 .nbt-detail-text")
    assert "kept" in detail.inner_text() and detail.evaluate("e => e.scrollWidth <= e.parentElement.clientWidth + 1")
    shot(page, "lab-stopped.png")
    page.click(".nbt-step-7 .nbt-step-name")
    set_input(page, ".nbt-step-detail-7 .nbt-param-n_cycle input", "1")
    run_step(page, 7)                                     # it fits again after the stop
    run_step(page, 8)                                     # TTA
    shot(page, "lab-done.png")
    assert "update failed" not in page.locator(".nbt-trainer").inner_text()  # every view drew every update
    open_tab(page, "3. Check mistakes")                   # what does it get wrong?
    page.click(".nbt-interpret")
    page.wait_for_selector(".nbt-top-losses img", timeout=STEP_TIMEOUT)
    page.wait_for_selector(".nbt-confusion .grid_heat_map, .nbt-confusion rect", timeout=30_000)
    assert page.locator(".nbt-top-losses img").count() == 9
    assert "most confused" in page.locator(".nbt-trainer").inner_text()
    shot(page, "lab-interpretation.png")
    open_tab(page, "2. Train")                            # the downloads are under the checklist
    check_take_home(take_home(page, root), tmp_path, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
    camera_pictures(page, root, "waves")                  # the camera works in JupyterLab too

    state = peek(page)
    assert "statuses: ['done', 'done', 'done', 'done', 'done', 'done', 'done', 'done', 'done']" in state
    assert "ratios: [5.0, 3.0]" in state and "frozen groups: 0" in state
    assert page.locator("text=Error displaying widget").count() == 0
    assert not errors, sorted(set(errors))
    page.close()


def test_the_widget_works_in_notebook_7(browser, notebook7, tmp_path):
    url, root = notebook7
    page, errors = open_and_run_all(browser, f"{url}/notebooks/recipe.ipynb")
    open_tab(page, "2. Train")
    run_step(page, 0)
    run_step(page, 1)
    assert "Chosen LR" in click_lr_curve(page)
    run_step(page, 2)
    assert "clicked on the curve" in page.locator(".nbt-next-lr").inner_text()
    shot(page, "notebook7.png")
    check_take_home(take_home(page, root), tmp_path, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
    camera_pictures(page, root, "waves")
    assert page.locator("text=Error displaying widget").count() == 0
    assert not errors, sorted(set(errors))
    page.close()
