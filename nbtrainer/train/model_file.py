"""The model file that is safe to share: the trained weights as ``safetensors`` (tensors only, no code: loading a
file from someone else cannot run anything) with a JSON config in the file's metadata (classes, size,
architecture, head), written atomically. :class:`~nbtrainer.train.predict.Predictor` and ``nbtrainer predict``
load it; a student takes it home, a teacher collects it.

Not the same as the other files nbtrainer writes: ``checkpoint.pt`` (the whole learner, for going on training:
read with ``torch.load(weights_only=True)``) and ``learn.export()``'s ``.pt2`` (``torch.export``: loading one
can run code, so load only your own).

Example::

    learn.save_model("digits.safetensors")
    predictor = Predictor.from_file("digits.safetensors")
    predictor.predict("3.png")          # ('3', tensor([...]))
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from ..data.journal import Disk

FORMAT = "nbtrainer.model/1"
META_KEY = "nbtrainer"


def model_config(learn) -> dict:
    """What rebuilds the model around the weights: classes, size, architecture and head; and the training's
    augmentation settings (test-time augmentation draws views like the ones the model was trained on)."""
    c = learn.config
    return {"format": FORMAT, "classes": list(learn.data.classes), "size": int(learn.data.size),
            "arch": c["arch"], "hidden": c["hidden"], "ps": list(c["ps"]), "aug": learn.data.aug.to_dict()}


def save_model(learn, path: str | os.PathLike) -> Path:
    """Write ``learn``'s weights and config to ``path`` (``.safetensors``), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # contiguous copies: safetensors stores plain row-major tensors (channels_last weights are not)
    tensors = {k: v.detach().cpu().contiguous() for k, v in learn.model.state_dict().items()}
    Disk().write(path, save(tensors, metadata={META_KEY: json.dumps(model_config(learn))}))
    return path


def read_model(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """The weights and the config of a model file; a clear error for a file that is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file '{path}' does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            config = json.loads((f.metadata() or {})[META_KEY])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"'{path}' is not an nbtrainer model file (expected safetensors with an "
                         f"'{META_KEY}' config; {type(e).__name__}: {e})") from None
    bad = _config_problem(config)
    if bad:
        raise ValueError(f"model file '{path}': {bad}")
    return tensors, config


def _config_problem(c) -> str | None:
    if not isinstance(c, dict) or c.get("format") != FORMAT:
        return f"expected the format {FORMAT!r}"
    classes = c.get("classes")
    if not isinstance(classes, list) or not 2 <= len(classes) <= 100_000 or not all(isinstance(x, str) for x in classes):
        return "expected 2 to 100,000 class names"
    if not isinstance(c.get("size"), int) or not 8 <= c["size"] <= 4096:
        return "expected an image size from 8 to 4096"
    from ..model.backbones import ARCHS

    if c.get("arch") not in ARCHS:  # checked before any body is built
        return f"expected one of the architectures {', '.join(ARCHS)}"
    # bounded: the config decides what build_model allocates before the weights are compared with it
    if not isinstance(c.get("hidden"), int) or not 1 <= c["hidden"] <= 65_536 or not isinstance(c.get("ps"), list) \
            or len(c["ps"]) != 2:
        return "expected the head's 'hidden' (1 to 65,536) and 'ps'"
    if "aug" in c:  # (files written before it was kept have none: the default settings then)
        from ..data.transforms import Augment

        try:
            Augment(**c["aug"])
        except (TypeError, ValueError) as e:
            return f"expected augmentation settings ({e})"
    return None
