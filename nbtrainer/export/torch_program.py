"""``learn.export(path)``: an inference-only artifact (``torch.export``) that needs torch, not nbtrainer.

The exported program takes one RGB image as a ``uint8`` tensor ``H x W x 3`` of any size (8..16384 px a
side) and returns the class probabilities. The preprocessing is inside: the centre square, resized to the
training size (bilinear, antialiased), scaled to [0, 1]; the model normalizes as in training. The class
names, the size and a description travel in the file (``extra_files["nbtrainer.json"]``).

(The preprocessing is :func:`nbtrainer.data.transforms.square_resize`, the plain pipeline's own code;
:mod:`.onnx_file` exports the same :class:`InferenceModule` to ONNX.)

Loading, without nbtrainer::

    import json, numpy as np, torch
    from PIL import Image
    extra = {"nbtrainer.json": ""}
    program = torch.export.load("digits.pt2", extra_files=extra)
    meta = json.loads(extra["nbtrainer.json"])
    image = torch.from_numpy(np.asarray(Image.open("3.png").convert("RGB")))
    probs = program.module()(image)
    print(meta["classes"][int(probs.argmax())])
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import torch
from torch import nn

from ..data.transforms import square_resize

META_FILE = "nbtrainer.json"
MIN_SIDE, MAX_SIDE = 8, 16384


class InferenceModule(nn.Module):
    """uint8 ``H x W x 3`` image -> class probabilities (``C``): crop the centre square, resize, classify."""

    def __init__(self, model: nn.Module, size: int):
        super().__init__()
        self.model, self.size = model, size

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(square_resize(image.permute(2, 0, 1).unsqueeze(0), self.size)).softmax(dim=1)[0]


def traceable(model: nn.Module, size: int) -> tuple[InferenceModule, tuple[torch.Tensor], dict]:
    """What an export traces, for ``torch.export`` and ONNX alike: the :class:`InferenceModule` around a float32
    CPU copy of ``model``, an example picture and the dynamic height and width (named ``image``)."""
    module = InferenceModule(copy.deepcopy(model).cpu().float().eval(), int(size)).eval()
    example = torch.zeros(size + 8, size + 16, 3, dtype=torch.uint8)  # not square: both sides stay dynamic
    dims = {"image": {0: torch.export.Dim("height", min=MIN_SIDE, max=MAX_SIDE),
                      1: torch.export.Dim("width", min=MIN_SIDE, max=MAX_SIDE)}}
    return module, (example,), dims


def export(learn, path: str | os.PathLike) -> Path:
    """Write ``learn``'s classifier with its preprocessing and class names to ``path`` (``torch.export``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = learn.data.size
    module, example, dims = traceable(learn.model, size)
    with torch.no_grad():
        program = torch.export.export(module, example, dynamic_shapes=dims)
    meta = {"classes": list(learn.data.classes), "size": size, "arch": learn.config["arch"],
            "input": "uint8 tensor H x W x 3 (RGB), any size from 8 to 16384 px a side",
            "output": "class probabilities, in the order of 'classes'"}
    torch.export.save(program, str(path), extra_files={META_FILE: json.dumps(meta)})
    return path
