"""``learn.export_web(folder)``: the classifier as a web page that runs in any browser, offline, without Python.

The folder holds ``index.html``, ``classify.js`` and ``camera.js`` (the page: pick or drop pictures, or use the camera, and see
the top 3 classes), ``model.onnx`` (:mod:`.onnx_file`: the preprocessing inside, so the page gets
``learn.predict``'s probabilities) and onnxruntime-web's WebAssembly runtime from npm (``ort.wasm.min.js``,
``ort-wasm-simd-threaded.mjs``/``.wasm``, its licence), copied from ``nbtrainer/export/page/vendor``
(``tools/vendor-onnxruntime-web`` refreshes them). Nothing is loaded from another host.

Browsers do not let a page opened as a file (``file://``) fetch its model, so the folder must be served: any
static host (a school server, GitHub Pages) or, on a laptop, ``python -m http.server`` in the folder and
http://localhost:8000/. The camera needs https or localhost (a browser rule). ``README.txt`` in the folder says so.

Example::

    learn.export_web("digits-page")           # then: cd digits-page && python -m http.server
    zip_folder("digits-page", "digits-page.zip")
"""
from __future__ import annotations

import glob
import html
import json
import os
import secrets
import shutil
import zipfile
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from filelock import FileLock

from ..data.image_checks import MAX_ASPECT, MAX_PIXELS
from ..data.journal import sync_dir, write_atomically
from .onnx_file import check_parent, export_onnx, require_onnx
from .torch_program import MAX_SIDE, MIN_SIDE

PAGE = Path(__file__).with_name("page")
VENDOR = PAGE / "vendor"
MARKER = "nbtrainer-page.json"  # what tells a folder this function made (and may replace) from any other
README = """{title}

A web page that classifies pictures in the browser ({classes}), made with nbtrainer.
Nothing is sent anywhere: the model runs on this computer (onnxruntime-web, WebAssembly).

To open it, serve this folder (browsers do not let a page opened as a file load its model):
    python -m http.server          (in this folder; then open http://localhost:8000/)
or put the folder on any web server (a school server, GitHub Pages). The camera works over https, or from
localhost.

Files: index.html, classify.js and camera.js (the page), model.onnx (the classifier, opset 18, with its preprocessing and
class names inside), ort.wasm.min.js, ort-wasm-simd-threaded.mjs, ort-wasm-simd-threaded.wasm (onnxruntime-web,
MIT licence: LICENSE-onnxruntime-web.txt).
"""


def page_title(classes: list[str]) -> str:
    shown = ", ".join(classes[:6]) + (f" and {len(classes) - 6} more" if len(classes) > 6 else "")
    return f"What is in the picture? ({shown})"


def write_page(folder: Path, model, size: int, classes: list[str], arch: str,
               step: Callable[[], None] = lambda: None) -> None:
    """Every file of the page into the empty ``folder`` (``step``: called after each file, for the crash tests)."""
    title = page_title(list(classes))
    info = {"classes": list(classes), "size": int(size), "arch": arch, "producer": f"nbtrainer {version('nbtrainer')}",
            "limits": {"minSide": MIN_SIDE, "maxSide": MAX_SIDE, "maxPixels": MAX_PIXELS, "maxAspect": MAX_ASPECT}}
    text = (PAGE / "index.html").read_text(encoding="utf-8")
    # (JSON inside <script>: only "</" could end the element early)
    text = text.replace("__TITLE__", html.escape(title)).replace("__MODEL_INFO__",
                                                                  json.dumps(info).replace("</", "<\\/"))
    files = {"index.html": text.encode(), **{name: (PAGE / name).read_bytes() for name in ("camera.js", "classify.js")},
             **{name: (VENDOR / name).read_bytes() for name in sorted(os.listdir(VENDOR)) if name != "SHA256SUMS"},
             "README.txt": README.format(title=title, classes=", ".join(classes)).encode()}
    for name, data in files.items():
        with open(folder / name, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # on the disk before the rename that shows the page
        step()
    export_onnx(model, size, classes, arch, folder / "model.onnx", step=step)
    written = sorted([*files, "model.onnx", MARKER])  # what check_target lets a later export replace
    (folder / MARKER).write_text(json.dumps({**info, "files": written}), encoding="utf-8")  # last: the page is whole
    step()


def put_right(folder: Path) -> None:
    """Undo what a kill left of an earlier :func:`export_web` to ``folder``: its unfinished new page goes; the
    old page it had moved aside (when the kill came between the two renames) comes back."""
    for unfinished in folder.parent.glob(f".{glob.escape(folder.name)}.*.tmp"):
        shutil.rmtree(unfinished, ignore_errors=True)
    for old in sorted(folder.parent.glob(f".{glob.escape(folder.name)}.*.old"), key=lambda p: p.stat().st_mtime):
        if not folder.exists() and (old / MARKER).is_file():
            os.replace(old, folder)
        else:
            shutil.rmtree(old, ignore_errors=True)


def check_target(folder: Path) -> None:
    """Refuse, before any work, a ``folder`` that is neither new (or empty) nor a page :func:`export_web` made,
    holding only the files it wrote (a file the user added there, a ``.git``, a ``CNAME``, stays theirs)."""
    check_parent(folder, "export_web")
    if not folder.exists():
        return
    if not folder.is_dir():
        raise FileExistsError(f"export_web: '{folder}' is a file; expected a new folder's name (it is not changed)")
    try:
        ours = set(json.loads((folder / MARKER).read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        ours = set()
    others = sorted(p.name for p in folder.iterdir() if p.name not in ours)
    if others:
        raise FileExistsError(f"export_web: '{folder}' holds {', '.join(others[:5])}{' ...' if len(others) > 5 else ''}, "
                              f"which an nbtrainer page does not; expected a new folder's name, or a page nbtrainer made "
                              f"as it made it (nothing in '{folder}' is changed)")


def export_web(model, size: int, classes: list[str], arch: str, folder: str | os.PathLike,
               step: Callable[[], None] = lambda: None) -> Path:
    """Write the page into ``folder``: a new folder, or one this function made before, holding only its files
    (replaced whole); any other is refused before any work (:func:`check_target`). The page is made in a
    temporary folder beside it and renamed into place: a kill at any moment leaves the old page or the new
    one, never a mix (a kill between moving the old page aside and renaming the new one leaves the old one
    aside: :func:`put_right`, which the next export runs first, brings it back). Exports to one folder take
    turns (a lock file beside it, ``.<folder>.lock``, which stays). ``step``: called after each change to the
    disk, for the crash tests."""
    folder = Path(folder)
    check_target(folder)
    require_onnx()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(folder.with_name(f".{folder.name}.lock")):
        check_target(folder)  # (again: another export may have made it meanwhile)
        put_right(folder)
        tag = f"{os.getpid()}-{secrets.token_hex(4)}"
        made, old = folder.with_name(f".{folder.name}.{tag}.tmp"), folder.with_name(f".{folder.name}.{tag}.old")
        try:
            made.mkdir()
            step()
            write_page(made, model, size, classes, arch, step)
            sync_dir(made)
            if folder.exists():
                os.replace(folder, old)
                step()
            os.replace(made, folder)
            step()
        finally:
            shutil.rmtree(made, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
        sync_dir(folder.parent)
        step()
    return folder


def zip_folder(folder: str | os.PathLike, path: str | os.PathLike) -> Path:
    """``folder``'s files in one zip at ``path`` (under the folder's name, as an unzipped download should
    look), written atomically."""
    folder = Path(folder)

    def fill(f) -> None:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            for file in sorted(folder.iterdir()):
                if file.is_file():
                    z.write(file, f"{folder.name}/{file.name}")

    return write_atomically(path, fill)
