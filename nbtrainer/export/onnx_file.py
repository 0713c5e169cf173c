"""``learn.export_onnx(path)``: the classifier as one ONNX file that any ONNX runtime runs (onnxruntime in Python,
C#, Java; onnxruntime-web in a browser), with its preprocessing inside and the class names in its metadata.

The graph takes one RGB picture as a ``uint8`` tensor ``H x W x 3`` named ``image``, any size from 8 to 16384 px
a side, and returns ``probabilities`` (one per class). Inside: :func:`nbtrainer.data.transforms.square_resize`,
the very function of ``learn.predict``'s plain pipeline (the centre square, resized to the trained size in
float32, bilinear with antialiasing: ONNX ``Resize`` with ``antialias=1``, opset 18), the model's own
normalisation, the model, a softmax. The metadata (``metadata_props``): ``classes`` (JSON), ``size``, ``arch``,
``input``, ``output``, ``producer`` (nbtrainer's version).

Loading, without nbtrainer or torch::

    import json, numpy as np, onnxruntime as ort
    from PIL import Image, ImageOps
    session = ort.InferenceSession("digits.onnx")
    classes = json.loads(session.get_modelmeta().custom_metadata_map["classes"])
    picture = ImageOps.exif_transpose(Image.open("3.png")).convert("RGB")   # upright, as nbtrainer loads it
    probs = session.run(None, {"image": np.asarray(picture)})[0]
    print(classes[int(probs.argmax())])

A picture with transparency or 16-bit grey: convert it as nbtrainer does (``nbtrainer.data.sources.to_rgb``:
composited on white, 16-bit scaled; PIL's ``convert("RGB")`` drops the alpha and clips 16-bit to white).
"""
from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import torch

from ..data.journal import write_atomically
from .torch_program import MAX_SIDE, MIN_SIDE, traceable

OPSET = 18  # the first opset whose Resize has antialias (torchvision's and PIL's antialiased downscaling)
INPUT, OUTPUT = "image", "probabilities"


def onnx_metadata(classes: list[str], size: int, arch: str) -> dict[str, str]:
    """The ``metadata_props`` an exported file carries (strings, as ONNX stores them)."""
    return {"classes": json.dumps(list(classes)), "size": str(int(size)), "arch": arch,
            "input": f"'{INPUT}': uint8 H x W x 3 (RGB), {MIN_SIDE} to {MAX_SIDE} px a side",
            "output": f"'{OUTPUT}': one per class, in the order of 'classes'",
            "preprocessing": "centre square, resized (bilinear, antialiased) to size x size, / 255; the "
                             "model normalizes with ImageNet's mean and std",
            "producer": f"nbtrainer {version('nbtrainer')}"}


def check_parent(path: Path, who: str) -> None:
    """Refuse, before any work, a ``path`` whose nearest existing parent is a file (``who``: the caller's name)."""
    above = next(p for p in path.absolute().parents if p.exists())
    if not above.is_dir():
        raise NotADirectoryError(f"{who}: '{above}' is a file; expected a folder to put '{path.name}' in")


def require_onnx() -> None:
    """Raise a clear error, before any work, when the packages the ONNX export needs are missing."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export's dynamo path needs onnx and onnxscript)
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise ImportError(f"exporting to ONNX needs the 'onnx' and 'onnxscript' packages ({e}): "
                          f"pip install onnx onnxscript (nothing was written)") from None


def export_onnx(model: torch.nn.Module, size: int, classes: list[str], arch: str,
                path: str | os.PathLike, step: Callable[[], None] = lambda: None) -> Path:
    """Write ``model`` (trained at ``size`` px on ``classes``) with its preprocessing to ``path`` as ONNX,
    atomically (a kill leaves the old file or the new one, whole; ``step``: as ``write_atomically``'s).

    Example::

        export_onnx(learn.model, learn.data.size, learn.data.classes, "efficientnet_lite0", "digits.onnx")
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"export_onnx: '{path}' is a folder; expected a file name such as "
                                f"'{path / 'model.onnx'}' (nothing was written)")
    check_parent(path, "export_onnx")
    require_onnx()
    module, example, dims = traceable(model, size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals are not the user's
        program = torch.onnx.export(module, example, input_names=[INPUT], output_names=[OUTPUT],
                                    dynamic_shapes=dims, dynamo=True, opset_version=OPSET, verbose=False,
                                    optimize=True)
    proto = program.model_proto
    proto.doc_string = "nbtrainer image classifier: uint8 RGB picture in, class probabilities out"
    del proto.metadata_props[:]
    for key, value in onnx_metadata(classes, size, arch).items():
        proto.metadata_props.add(key=key, value=value)
    return write_atomically(path, lambda f: f.write(proto.SerializeToString()), step)
