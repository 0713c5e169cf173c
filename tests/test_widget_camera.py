"""The camera's kernel side, driven with the messages its browser script sends (no browser; the browser tests
use Chromium's fake camera): bursts of frames wait beside picked pictures and join a class through "Add to
class" (asked first, undoable); too many frames are refused with a message; "Try it" answers each live frame
and tells the browser to send the next; the browser's refusals are said. Real photos (scikit-image's)."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from nbtrainer.widget import Trainer
from nbtrainer.widget.camera import MAX_FRAMES

from .conftest import FAST_RECIPE as FAST, small_learner
from .test_widget_data import choose_files, press


def jpeg(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def crops(photo: np.ndarray, n: int, side: int = 240, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    h, w = photo.shape[:2]
    return [jpeg(photo[t:t + side, s:s + side]) for t, s in zip(rng.integers(0, h - side, n), rng.integers(0, w - side, n))]


def burst(camera, frames: list[bytes]) -> None:
    """What the browser sends while "Take pictures" is held: a start, one message a frame, an end."""
    camera._receive(camera, {"kind": "start"}, [])
    for i, frame in enumerate(frames):
        camera._receive(camera, {"kind": "frame", "index": i}, [memoryview(frame)])
    camera._receive(camera, {"kind": "end"}, [])


def test_camera_frames_join_a_class_and_try_it_classifies_live_frames(tmp_path):
    from skimage import data

    trainer = Trainer(small_learner(n=100), folder=tmp_path / "session", **FAST)
    root, view, model = tmp_path / "session" / "data", trainer.data_view, trainer.model
    cat, coffee = crops(data.chelsea(), 14), crops(data.coffee(), 14, seed=1)
    view.class_name.value = "cat"
    burst(view.camera, cat[:4])
    burst(view.camera, cat[4:10])  # two presses of the button: ten frames wait
    assert view.camera.count == 10 and not root.exists()  # nothing written before Add to class
    choose_files(view.files, [("picked.jpg", cat[10])])
    press(view, "nbt-add-images")
    assert model.confirm["text"].startswith("Save 11 file(s) as class 'cat'")
    trainer.confirm.yes.click()
    saved = sorted(p.name for p in (root / "cat").iterdir())
    assert saved == sorted(["picked.jpg", *[f"camera-1-{i}.jpg" for i in range(1, 5)],
                            *[f"camera-2-{i}.jpg" for i in range(1, 7)]])
    assert (root / "cat" / "camera-2-3.jpg").read_bytes() == cat[6] and view.camera.count == 0
    press(view, "nbt-undo-edit")  # one batch: Undo takes all eleven back
    trainer.confirm.yes.click()
    assert not list((root / "cat").glob("*.jpg"))
    view.class_name.value = "cat"
    burst(view.camera, cat[:12])
    press(view, "nbt-add-images")
    trainer.confirm.yes.click()
    view.class_name.value = "coffee"
    burst(view.camera, coffee[:12])
    press(view, "nbt-add-images")
    trainer.confirm.yes.click()

    steps = len(model.steps)
    press(view, "nbt-use-folder")  # photos, not 8 px digits: a checklist of other steps than the one on show
    assert model.worker.join(60)
    trainer.confirm.yes.click()
    assert model.learn.data.classes == ["cat", "coffee"] and len(trainer.panel.rows) == len(model.steps) == steps + 1
    assert "now training on &#x27;data&#x27;" in trainer.panel.message.value  # the new panel, drawn
    for i in range(3):
        trainer.panel.rows[i].run.click()
        assert model.worker.join(120)

    live = trainer.predictor.camera  # "4. Try it", the camera on: a frame, an answer, the next frame
    assert live.live and not view.camera.live
    for n, frame in enumerate([cat[12], coffee[12], cat[13]], start=1):
        live._receive(live, {"kind": "live"}, [memoryview(frame)])
        assert live.answered == n  # the browser sends the next frame after this change
        label, probs = model.learn.predict(frame)
        result = trainer.predictor.result.value
        assert result.startswith(f"<b>{label}</b>") and f"{label}: {probs.max():.1%}" in result
        assert trainer.predictor.image.layout.display == "none"  # the video shows the frame already
    live._receive(live, {"kind": "refused", "text": "no camera was found on this computer"}, [])
    assert "no camera was found" in trainer.predictor.result.value


def test_too_many_frames_are_refused_with_a_message_and_a_refusal_is_said(tmp_path):
    trainer = Trainer(small_learner(n=60), folder=tmp_path / "session", **FAST)
    camera = trainer.data_view.camera
    frame = jpeg(np.full((16, 16, 3), 128, np.uint8))
    burst(camera, [frame] * (MAX_FRAMES - 3))
    burst(camera, [frame] * 5)
    assert camera.count == MAX_FRAMES and len(camera.frames) == MAX_FRAMES
    assert f"2 frame(s) not kept: {MAX_FRAMES} frames (or 200 MB) at most" in trainer.model.message
    camera._receive(camera, {"kind": "refused", "text": "the camera was not allowed for this page"}, [])
    assert trainer.model.message == "the camera was not allowed for this page"
    assert "the camera was not allowed" in trainer.data_view.message.value
