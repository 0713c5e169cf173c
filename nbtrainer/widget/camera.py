"""The laptop's camera in the app: "Take pictures" for a class (a click takes one frame; holding the button down
records a few frames a second) and, in "4. Try it", the camera classified live.

Built on anywidget (the same base as :mod:`.picture_upload`): a small ES module calls the browser's
``getUserMedia``, draws the video's current frame on a canvas and sends it to the kernel as JPEG bytes, one
message a frame (a binary buffer; a 640 x 480 frame is ~50 KB, far under the websocket's 10 MiB limit). Not
ipywebrtc: its last release (0.6, 2021) is built for ipywidgets 7 and does not load in JupyterLab 4, Notebook 7
or Voila 0.5 with ipywidgets 8; anywidget is kept up and loads in all three.

Taking pictures: each press of the button is a burst (one frame, or every frame recorded while held); when it
ends the kernel has the burst's frames in :attr:`CameraView.frames`, waiting beside the picked files for
"Add to class" (which asks first and can be undone, as for uploads); Space or Enter held on the button
records too. Live: the browser sends a frame, waits
until the kernel has answered (``answered`` goes up), waits :attr:`CameraView.pause_ms` more, then sends the
next; a slow kernel gets fewer frames, never a queue of them.

:meth:`CameraView.stop` turns it off (the app calls it when its tab is left). The browser says why the
camera cannot start: no camera, permission denied, a page neither on https nor on
localhost (browsers give the camera only to secure pages); the sentence also goes to ``on_refused``.

CSS classes: ``nbt-camera`` (the widget), ``nbt-camera-start``, ``nbt-camera-shoot``, ``nbt-camera-stop``,
``nbt-camera-video``, ``nbt-camera-status``.

Example::

    camera = CameraView(on_refused=print)
    display(camera)                       # Start the camera; click or hold "Take pictures"
    camera.frames                         # [('camera-1733450000-0.jpg', b'...'), ...]; camera.clear()
    live = CameraView(live=True, on_frame=lambda jpeg: print(len(jpeg)))
"""
from __future__ import annotations

from collections.abc import Callable

import anywidget
from traitlets import Bool, Int, Unicode

from ..export.web_page import PAGE
from .picture_upload import MAX_TOTAL, size_text

MAX_FRAMES = 300  # frames waiting at once: minutes of recording, far under MAX_TOTAL at ~50 KB a frame

_ESM = (PAGE / "camera.js").read_text(encoding="utf-8") + """
function button(text, css) {
  const b = document.createElement("button");
  b.className = `jupyter-widgets jupyter-button widget-button ${css}`;
  b.textContent = text;
  b.style.width = "auto";
  b.style.padding = "0 12px";
  return b;
}
function render({ model, el }) {
  const live = model.get("live");
  const start = button(model.get("start_label"), "nbt-camera-start mod-info");
  const shoot = button("Take pictures (hold to record)", "nbt-camera-shoot mod-info");
  const stop = button("Stop the camera", "nbt-camera-stop");
  const status = document.createElement("span");
  status.className = "nbt-camera-status";
  const video = document.createElement("video");
  Object.assign(video, { muted: true, playsInline: true, className: "nbt-camera-video" });
  video.style.width = `${model.get("width")}px`;
  video.style.borderRadius = "6px";
  video.style.background = "#000";
  const row = document.createElement("div");
  row.style.display = "flex"; row.style.gap = "6px"; row.style.alignItems = "center"; row.style.flexWrap = "wrap";
  row.append(start, shoot, stop, status);
  el.append(row, video);
  // each start is a run; what an older run left (Start twice, Stop during the browser's question) stops itself
  let stream = null, queue = Promise.resolve(), timer = null, liveTimer = null, index = 0, run = 0, starting = false;
  // (style.display, not the hidden attribute: Jupyter's button CSS sets a display that overrides it)
  const display = (node, on) => { node.style.display = on ? "" : "none"; };
  const show = () => {
    display(start, !stream); display(stop, !!stream); display(video, !!stream); display(shoot, !!stream && !live);
    const n = model.get("count");
    if (!live) shoot.textContent = `Take pictures (hold to record)${n ? ` (${n})` : ""}`;
  };
  const say = (text) => { status.textContent = text; };
  const refuse = (text) => { say(text); model.send({ kind: "refused", text }); };
  // the frame on show, as JPEG bytes (null before the video has a size)
  const frame = () => new Promise((resolve) => {
    if (!video.videoWidth) return resolve(null);
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => resolve(blob), "image/jpeg", 0.92);
  });
  // messages of a burst in order: a frame is sent after the one before it, "end" after the last
  const later = (job) => { queue = queue.then(job).catch((e) => say(`${e}`)); };
  const take = () => later(async () => {
    const blob = await frame();
    if (blob) model.send({ kind: "frame", index: index++ }, undefined, [await blob.arrayBuffer()]);
  });
  const press = (e) => {
    if (timer !== null) return;
    e.preventDefault();
    later(async () => model.send({ kind: "start" }));
    take();
    timer = setInterval(take, 1000 / model.get("fps"));
  };
  const release = () => {
    if (timer === null) return;
    clearInterval(timer); timer = null;
    later(async () => model.send({ kind: "end" }));
  };
  shoot.addEventListener("pointerdown", press);
  for (const name of ["pointerup", "pointerleave", "pointercancel"]) shoot.addEventListener(name, release);
  const isKey = (e) => e.key === " " || e.key === "Enter";  // the keyboard: held like the mouse button
  shoot.addEventListener("keydown", (e) => { if (isKey(e) && !e.repeat) press(e); });
  shoot.addEventListener("keyup", (e) => { if (isKey(e)) release(); });
  shoot.addEventListener("blur", release);
  const tick = async () => {  // live: one frame, then wait for the kernel's answer ("answered")
    liveTimer = null;
    if (!stream || !live) return;
    const blob = await frame();
    if (!blob) { liveTimer = setTimeout(tick, 100); return; }
    model.send({ kind: "live" }, undefined, [await blob.arrayBuffer()]);
    liveTimer = setTimeout(tick, 5000);  // no answer in 5 s (a kernel that restarted): try again
  };
  const answered = () => {
    if (!stream || !live) return;
    clearTimeout(liveTimer);
    liveTimer = setTimeout(tick, model.get("pause_ms"));
  };
  model.on("change:answered", answered);
  const close = () => {
    run += 1;
    release();
    clearTimeout(liveTimer);
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null; video.srcObject = null;
    say("");
    show();
  };
  start.addEventListener("click", async () => {
    if (starting || stream) return;
    say("");
    starting = true;
    const mine = ++run;
    const { stream: got, refusal } = await openCamera();  // (camera.js, shared with the exported page)
    starting = false;
    if (refusal) {
      refuse(refusal);
      return;
    }
    if (mine !== run) { got.getTracks().forEach((t) => t.stop()); return; }  // closed while the browser asked
    stream = got;
    video.srcObject = stream;
    try {
      await video.play();
    } catch (e) {  // (closed before the video started)
      return;
    }
    show();
    say(live ? "classifying what the camera sees" : "");
    if (live) tick();
  });
  stop.addEventListener("click", close);
  const onMessage = (msg) => { if (msg.kind === "stop") close(); };  // the app's tab was left
  model.on("msg:custom", onMessage);
  model.on("change:count", show);
  show();
  // the view removed (the cell cleared, the app rebuilt): the camera light goes off
  return () => {
    close();
    model.off("change:answered", answered); model.off("change:count", show); model.off("msg:custom", onMessage);
  };
}
export default { render };
"""


class CameraView(anywidget.AnyWidget):
    """The camera: bursts of frames for a class, or (``live=True``) frames handed to ``on_frame`` one at a time.

    Args:
        on_refused: called with the sentence the browser showed when the camera could not start (or when
            too many frames wait).
        on_frame: ``live``: called with each frame's JPEG bytes; the next frame comes after it returns.
        live: classify what the camera sees, instead of taking pictures.
    """

    _esm = _ESM
    live = Bool(False).tag(sync=True)
    start_label = Unicode("Start the camera").tag(sync=True)
    fps = Int(4).tag(sync=True)  # frames a second while the button is held
    pause_ms = Int(300).tag(sync=True)  # live: the wait after an answer before the next frame
    width = Int(240).tag(sync=True)  # px the video is shown at
    count = Int(0).tag(sync=True)  # frames waiting for "Add to class"
    answered = Int(0).tag(sync=True)  # live frames answered: the browser sends the next after a change

    def __init__(self, on_refused: Callable[[str], None] = lambda text: None,
                 on_frame: Callable[[bytes], None] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.on_refused, self.on_frame = on_refused, on_frame
        self.frames: list[tuple[str, bytes]] = []
        self._burst: list[tuple[str, bytes]] = []
        self._bursts = 0
        self.on_msg(self._receive)
        self.add_class("nbt-camera")

    def _receive(self, _widget, content: dict, buffers: list) -> None:
        kind = content.get("kind")
        if kind == "start":
            self._burst, self._bursts = [], self._bursts + 1
        elif kind == "frame" and buffers:
            self._burst.append((f"camera-{self._bursts}-{len(self._burst) + 1}.jpg", bytes(buffers[0])))
        elif kind == "end":
            self._end_burst()
        elif kind == "live" and buffers and self.on_frame is not None:
            try:
                self.on_frame(bytes(buffers[0]))
            finally:
                self.answered += 1
        elif kind == "refused":
            self.on_refused(str(content.get("text", "the camera did not start")))

    def _end_burst(self) -> None:
        """The burst's frames join those waiting, as many as :data:`MAX_FRAMES` and ``MAX_TOTAL`` leave room for."""
        burst, self._burst = self._burst, []
        kept, used = list(self.frames), sum(len(data) for _, data in self.frames)
        for name, data in burst:
            if len(kept) == MAX_FRAMES or used + len(data) > MAX_TOTAL:
                break
            kept.append((name, data))
            used += len(data)
        if len(kept) - len(self.frames) < len(burst):
            self.on_refused(f"{len(burst) - (len(kept) - len(self.frames))} frame(s) not kept: {MAX_FRAMES} frames "
                            f"(or {size_text(MAX_TOTAL)}) at most wait for 'Add to class' at once; add these to a class "
                            "first")
        self.frames, self.count = kept, len(kept)

    def clear(self) -> None:
        """The frames were used (or handed to a question that holds them): forget them."""
        self.frames, self.count = [], 0

    def stop(self) -> None:
        """Turn the camera off in every view (its tab was left: no frames, no camera light, for nothing)."""
        self.send({"kind": "stop"})
