"""A "Pictures" button that sends the chosen files to the kernel one message each, with its limits stated beside
it and an over-limit choice refused with a message.

Why not ipywidgets' ``FileUpload``: it sends every chosen file in one comm message, and Jupyter's websocket drops a
message over 10 MiB without a word (ipywidgets #2522): a student who picks 30 phone photos sees nothing happen.
Here the browser checks the sizes first (each file at most :data:`MAX_FILE`, the choice at most
:data:`MAX_TOTAL`), then sends one message per file (anywidget's ``model.send`` with the bytes as a binary
buffer), and the kernel gathers them; :attr:`files` then holds ``(name, bytes)`` pairs.

``multiple=False`` and ``on_files`` make it the "Try it" picker: one picture, handed over as soon as it
arrives (the same file may be picked again).

CSS classes: ``nbt-images-upload`` (the widget), ``nbt-upload-button``, ``nbt-upload-limit``.

Example::

    upload = PictureUpload(on_refused=print)
    display(upload)                 # the student picks pictures
    upload.files                    # [('cat1.jpg', b'...'), ...]; upload.clear() once they are used
"""
from __future__ import annotations

from collections.abc import Callable

import anywidget
from traitlets import Bool, Int, Unicode

MiB = 1024 * 1024
MAX_FILE = 8 * MiB  # under the websocket's 10 MiB message limit, with room for the message around it
MAX_TOTAL = 200 * MiB  # what one choice may hold in the kernel's memory

_ESM = """
function render({ model, el }) {
  const input = document.createElement("input");
  Object.assign(input, { type: "file", multiple: model.get("multiple"), accept: model.get("accept") });
  input.style.display = "none";
  const button = document.createElement("button");
  button.className = "jupyter-widgets jupyter-button widget-button nbt-upload-button";
  const note = document.createElement("span");
  note.className = "nbt-upload-limit";
  note.style.marginLeft = "6px";
  const label = () => {
    const n = model.get("count"), busy = model.get("receiving");
    button.textContent = busy ? `Sending ${busy}...` : `${model.get("label")}${n ? ` (${n})` : ""}`;
    note.textContent = model.get("limit_text");
  };
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", async () => {
    const files = [...input.files];
    input.value = "";
    const total = files.reduce((sum, f) => sum + f.size, 0);
    const big = files.filter((f) => f.size > model.get("max_file")).map((f) => [f.name, f.size]);
    if (big.length || total > model.get("max_total")) {
      model.send({ kind: "refused", big, total, count: files.length });
      return;
    }
    model.send({ kind: "start", count: files.length });
    for (const [index, f] of files.entries()) {
      model.send({ kind: "file", name: f.name, index }, undefined, [await f.arrayBuffer()]);
    }
    model.send({ kind: "end", count: files.length });
  });
  model.on("change:count", label);
  model.on("change:receiving", label);
  label();
  el.append(button, input, note);
}
export default { render };
"""


def size_text(n: int) -> str:
    return f"{n / MiB:.0f} MB" if n >= MiB else f"{n / 1024:.0f} KB"


class PictureUpload(anywidget.AnyWidget):
    """Pick pictures in the browser; the kernel gets them one file per message (see the module's docstring)."""

    _esm = _ESM
    accept = Unicode("image/*").tag(sync=True)
    multiple = Bool(True).tag(sync=True)
    label = Unicode("Pictures").tag(sync=True)
    max_file = Int(MAX_FILE).tag(sync=True)
    max_total = Int(MAX_TOTAL).tag(sync=True)
    limit_text = Unicode("").tag(sync=True)
    count = Int(0).tag(sync=True)  # pictures received and waiting to be used
    receiving = Int(0).tag(sync=True)  # pictures announced and not all received yet

    def __init__(self, on_refused: Callable[[str], None] = lambda text: None,
                 on_files: Callable[[list[tuple[str, bytes]]], None] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.on_files = on_files  # given: the files go to it at once (and are not kept here)
        self.limit_text = (f"up to {size_text(self.max_file)} a picture" +
                           (f", {size_text(self.max_total)} at once" if self.multiple else ""))
        self.files: list[tuple[str, bytes]] = []
        self._incoming: list[tuple[str, bytes]] = []
        self.on_refused = on_refused
        self.on_msg(self._receive)
        self.add_class("nbt-images-upload")

    def _receive(self, _widget, content: dict, buffers: list) -> None:
        kind = content.get("kind")
        if kind == "start":
            self._incoming, self.receiving = [], int(content["count"])
        elif kind == "file" and buffers:
            self._incoming.append((str(content["name"]), bytes(buffers[0])))
        elif kind == "end":
            # the browser checks the limits before sending; the kernel checks again (a page can be changed)
            big = [(name, len(data)) for name, data in self._incoming if len(data) > self.max_file]
            total = sum(len(data) for _, data in self._incoming)
            if big or total > self.max_total:
                count, self._incoming, self.receiving = len(self._incoming), [], 0
                self.on_refused(self.refusal(big, total, count))
                return
            files, self._incoming, self.receiving = self._incoming, [], 0
            if self.on_files is not None:
                self.on_files(files)
                return
            self.files, self.count = files, len(files)
        elif kind == "refused":
            self.on_refused(self.refusal(content.get("big", []), int(content.get("total", 0)),
                                         int(content.get("count", 0))))

    def refusal(self, big: list, total: int, count: int) -> str:
        """Why a choice was not sent (said to the student; nothing was sent or saved)."""
        if big:
            names = ", ".join(f"'{name}' ({size_text(size)})" for name, size in big[:5])
            return (f"not sent: {len(big)} picture(s) over {size_text(self.max_file)}: {names}"
                    f"{' ...' if len(big) > 5 else ''}; make them smaller (or choose others)")
        return (f"not sent: {count} pictures of {size_text(total)} in all, over {size_text(self.max_total)} at once; "
                "choose fewer at a time")

    def clear(self) -> None:
        """The received pictures were used: forget them."""
        self.files, self.count = [], 0
