"""A fake camera for Chromium (``--use-file-for-fake-video-capture=FILE.y4m``): a Y4M video made from a real
photo, panning slowly across it as a hand-held camera would.

Why by hand: Y4M is a text header and raw YUV 4:2:0 planes; numpy writes it in a few lines, where ffmpeg is not
installed by the test command."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def y4m_from_photo(photo: np.ndarray, path: Path, frames: int = 30, size: tuple[int, int] = (640, 480),
                   fps: int = 10) -> Path:
    """Write ``frames`` frames of ``size`` (width, height) cut from ``photo`` (``H x W x 3`` uint8), each a
    little to the right of the one before, to ``path`` (full-range BT.601 YCbCr 4:2:0)."""
    width, height = size
    h, w = photo.shape[:2]
    crop_w, crop_h = int(w * 0.85), int(h * 0.85)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            left = int((w - crop_w) * i / max(1, frames - 1))
            crop = Image.fromarray(photo[(h - crop_h) // 2:(h - crop_h) // 2 + crop_h, left:left + crop_w])
            ycc = np.asarray(crop.resize(size, Image.BILINEAR).convert("YCbCr"))
            f.write(b"FRAME\n")
            f.write(ycc[..., 0].tobytes())
            for c in (1, 2):  # chroma at half the size each way
                f.write(np.asarray(Image.fromarray(ycc[..., c]).resize((width // 2, height // 2), Image.BILINEAR)).tobytes())
    return path
