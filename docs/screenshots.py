"""The README's screenshots, from a real run: ``python docs/screenshots.py`` (after the test install; about 6
minutes on 2 CPU cores). JupyterLab 4 serves ``notebooks/recipe.ipynb`` with its full settings (1,797 digits at
64 px); Chromium at a laptop's 1366x768 clicks through every step as a student would, picking each LR on the
curve at its suggestion; the shots are of the screen as the student sees it.

Writes docs/laptop-lr-finder.png, docs/laptop-training.png, docs/data-tab.png, docs/interpretation.png.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_browser import (ARGS, CHROMIUM, STEP_TIMEOUT, in_view_together, open_and_run_all,  # noqa: E402
                                run_step, start_server, stop_server)

DOCS = ROOT / "docs"


def click_suggestion(page) -> str:
    """Click the LR-finder curve where its suggestion (the triangle, the plot's only dot before a pick) is, as
    a student who agrees with it would; returns the label."""
    page.locator(".nbt-plot-choice button:has-text('LR finder')").click()
    box = page.locator(".nbt-lr-plot .dot").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2 + 12)
    page.wait_for_selector(".nbt-lr-label:has-text('Chosen LR')", timeout=30_000)
    return page.locator(".nbt-lr-label").inner_text()


def screen(page, name: str) -> None:
    page.screenshot(path=str(DOCS / name))
    print("wrote", DOCS / name)


def main() -> None:
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp()) / "root"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "recipe.ipynb", root)
    server, url = start_server("lab", root, fast=False)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page, errors = open_and_run_all(browser, f"{url}/lab/tree/recipe.ipynb")
            run_step(page, 0)
            run_step(page, 1)
            print(click_suggestion(page))
            run_step(page, 2)
            in_view_together(page, 3)
            page.click(".nbt-plot-choice button:has-text('LR finder')")
            time.sleep(1)
            screen(page, "laptop-lr-finder.png")
            for i in range(3, 6):
                run_step(page, i)
            run_step(page, 6)
            print(click_suggestion(page))
            run_step(page, 7)
            in_view_together(page, 8)
            time.sleep(1)
            screen(page, "laptop-training.png")
            run_step(page, 8)
            page.locator(".lm-TabBar-tab", has_text="Data").first.click()
            page.click(".nbt-data-refresh")
            page.wait_for_selector(".nbt-aug-preview img", timeout=60_000)
            page.locator(".nbt-data").evaluate("el => el.scrollIntoView({block: 'start'})")
            time.sleep(1)
            screen(page, "data-tab.png")
            page.locator(".lm-TabBar-tab", has_text="Interpretation").first.click()
            page.click(".nbt-interpret")
            page.wait_for_selector(".nbt-clean-choice select", timeout=STEP_TIMEOUT)
            page.locator(".nbt-interpret").evaluate("el => el.scrollIntoView({block: 'start'})")
            time.sleep(1)
            screen(page, "interpretation.png")
            print("accuracy after the recipe:", page.locator(".nbt-step-7 .nbt-detail").inner_text())
            print("console/page errors:", errors or "none")
            browser.close()
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
