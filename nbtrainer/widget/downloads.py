"""Download buttons: a file made in the kernel (the script, the model file, the report) saved by the student's
browser, in Voila, JupyterLab and Notebook 7 alike.

Why by hand: a link to the server's file works in JupyterLab (its ``/files/`` route) but not in Voila, which
serves no file of the session folder, and a ``data:`` link in an HTML widget would put the model (megabytes,
base64) in the widget's state for every redraw. Here a click asks the kernel for the file; the kernel makes it
and sends its bytes as binary buffers (anywidget's ``send``, in pieces of :data:`PIECE`, each far under the
websocket's message limit); the browser joins them in a ``Blob`` and saves it with an ``<a download>`` click.

CSS classes: ``nbt-downloads`` (the widget), ``nbt-download-<key>`` (a button), ``nbt-download-status``.

Example::

    downloads = Downloads({"script": ("Script", lambda: Path("recipe.py"))}, on_error=print)
    display(downloads)           # a click on "Script" saves recipe.py in the browser's downloads
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anywidget
from traitlets import Dict, List, Unicode

from .picture_upload import size_text

PIECE = 4 * 1024 * 1024  # bytes a message: well under the 10 MiB a Jupyter websocket message may hold

_ESM = """
function render({ model, el }) {
  const row = document.createElement("div");
  row.style.display = "flex";
  row.style.alignItems = "center";
  row.style.gap = "6px";
  const status = document.createElement("span");
  status.className = "nbt-download-status";
  const draw = () => {
    row.replaceChildren();
    for (const [key, label, help] of model.get("items")) {
      const button = document.createElement("button");
      button.className = `jupyter-widgets jupyter-button widget-button nbt-download-${key}`;
      button.textContent = label;
      button.style.width = "auto";
      button.style.padding = "0 12px";
      button.title = help;
      button.addEventListener("click", () => model.send({ kind: "want", key }));
      row.append(button);
    }
    row.append(status);
  };
  let parts = [], incoming = null;
  const receive = (msg, buffers) => {
    if (msg.kind === "start") {
      parts = []; incoming = msg;
    } else if (msg.kind === "piece" && incoming) {
      parts.push(buffers[0]);
    } else if (msg.kind === "end" && incoming) {
      const blob = new Blob(parts, { type: incoming.type });
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      Object.assign(a, { href: url, download: incoming.filename });
      a.style.display = "none";
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      parts = []; incoming = null;
    }
  };
  model.on("msg:custom", receive);
  const say = () => { status.textContent = model.get("status"); };
  model.on("change:items", draw);
  model.on("change:status", say);
  draw();
  say();
  el.append(row);
  // a view shown again (or twice) must not save each file once per old view
  return () => { model.off("msg:custom", receive); model.off("change:items", draw); model.off("change:status", say); };
}
export default { render };
"""

TYPES = {".py": "text/x-python", ".html": "text/html", ".zip": "application/zip"}  # else application/octet-stream


class Downloads(anywidget.AnyWidget):
    """One button per file; a click makes the file in the kernel and the browser saves it.

    Args:
        makers: ``{key: (label, make)}``: ``make()`` writes the file and returns its path (None when it could
            not: it has said why through ``on_error`` or elsewhere). The browser saves it under the path's name.
        help: ``{key: text}`` shown when the pointer rests on a button.
        on_error: called with a sentence when a file could not be made or read.
    """

    _esm = _ESM
    items = List().tag(sync=True)  # [key, label, help] per button
    status = Unicode("").tag(sync=True)
    sent = Dict().tag(sync=False)  # key -> the path last sent (for tests and the app's message)

    def __init__(self, makers: dict[str, tuple[str, Callable[[], Path | None]]], help: dict[str, str] | None = None,
                 on_error: Callable[[str], None] = lambda text: None, **kwargs):
        super().__init__(**kwargs)
        self.makers = makers
        self.on_error = on_error
        self.items = [[key, label, (help or {}).get(key, "")] for key, (label, _) in makers.items()]
        self.on_msg(self._receive)
        self.add_class("nbt-downloads")

    def _receive(self, _widget, content: dict, _buffers: list) -> None:
        if content.get("kind") == "want" and content.get("key") in self.makers:
            self.download(content["key"])

    def download(self, key: str) -> Path | None:
        """Make file ``key`` and send it to the browser, which saves it. Returns its path (None if not made)."""
        label, make = self.makers[key]
        self.status = f"making the {label.lower()}..."
        try:
            path = make()
            data = None if path is None else Path(path).read_bytes()
        except Exception as e:  # said to the student, never left "making..." with a traceback in the kernel
            self.status = ""
            self.on_error(f"the {label.lower()} could not be made: {type(e).__name__}: {e}")
            return None
        if data is None:
            self.status = ""
            return None
        path = Path(path)
        self.send({"kind": "start", "filename": path.name, "size": len(data),
                   "type": TYPES.get(path.suffix, "application/octet-stream")})
        for at in range(0, len(data), PIECE):
            self.send({"kind": "piece"}, buffers=[data[at:at + PIECE]])
        self.send({"kind": "end"})
        self.sent = {**self.sent, key: path}
        self.status = f"{path.name} ({size_text(len(data))}) sent to your browser's downloads"
        return path
