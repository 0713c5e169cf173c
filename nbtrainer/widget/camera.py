"""The laptop's camera in the app: "Take pictures" for a class (a click takes one frame; holding the button down
records a few frames a second) and, in "4. Try it", the camera classified live.

Built on anywidget (the same base as :mod:`.picture_upload`): a small ES module calls the browser's
``getUserMedia``, draws the video's current frame on a canvas and sends it to the kernel as JPEG bytes, one
message a frame (a binary buffer; a 640 x 480 frame is ~50 KB, far under the websocket's 10 MiB limit). Not
ipywebrtc: its last release (0.6, 2021) is built for ipywidgets 7 and does not load in JupyterLab 4, Notebook 7
or Voila 0.5 with ipywidgets 8; anywidget is kept up and loads in all three.

Taking pictures: each press of the button is a burst (one frame, or every frame recorded while held); when it
ends the kernel has the burst's frames in :attr:`CameraView.frames`, waiting beside the picked files for
"Add to class" (which asks first and can be undone, as for uploads). Live: the browser sends a frame, waits
until the kernel has answered (``answered`` goes up), waits :attr:`CameraView.pause_ms` more, then sends the
next; a slow kernel gets fewer frames, never a queue of them.

The browser says why the camera cannot start: no camera, permission denied, a page neither on https nor on
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

from .picture_upload import MAX_TOTAL

MAX_FRAMES = 300  # frames waiting at once: minutes of recording, far under MAX_TOTAL at ~50 KB a frame

_ESM = """
const REFUSALS = {
  NotAllowedError: "the camera was not allowed: allow it for this page (the camera icon in the address bar) and start it again",
  SecurityError: "the camera was not allowed for this page",
  NotFoundError: "no camera was found on this computer",
  OverconstrainedError: "no camera was found on this computer",
  NotReadableError: "the camera is busy: another program or tab is using it",
};
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
  let stream = null, queue = Promise.resolve(), timer = null, liveTimer = null, index = 0;
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
  const tick = async () => {  // live: one frame, then wait for the kernel's answer ("answered")
    liveTimer = null;
    if (!stream) return;
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
    release();
    clearTimeout(liveTimer);
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null; video.srcObject = null;
    show();
  };
  start.addEventListener("click", async () => {
    say("");
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      refuse(`the camera needs a page on https or on this computer (localhost); this page is ${location.origin}`);
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    } catch (e) {
      refuse(REFUSALS[e.name] || `the camera did not start: ${e.name}: ${e.message}`);
      return;
    }
    video.srcObject = stream;
    await video.play();
    show();
    say(live ? "classifying what the camera sees" : "");
    if (live) tick();
  });
  stop.addEventListener("click", close);
  model.on("change:count", show);
  show();
  // the view removed (another tab, the cell cleared): the camera light goes off
  return () => { close(); model.off("change:answered", answered); model.off("change:count", show); };
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
        burst, self._burst = self._burst, []
        room = min(MAX_FRAMES - len(self.frames),
                   (MAX_TOTAL - sum(len(b) for _, b in self.frames)) // max(1, max((len(b) for _, b in burst), default=1)))
        if len(burst) > room:
            self.on_refused(f"{len(burst) - max(0, room)} frame(s) not kept: {MAX_FRAMES} frames at most wait for "
                            f"'Add to class' at once; add these to a class first")
            burst = burst[:max(0, room)]
        self.frames = self.frames + burst
        self.count = len(self.frames)

    def clear(self) -> None:
        """The frames were used (or handed to a question that holds them): forget them."""
        self.frames, self.count = [], 0
