"""Predicting single images: ``learn.predict(image)``, a :class:`Predictor` from a checkpoint file (no
training data needed), and the ``nbtrainer predict CHECKPOINT IMAGES...`` table.

An image is a path, a file's bytes, a PIL image, or an ``H x W x C`` / ``H x W`` uint8 array; it is
converted to RGB as training images are (:func:`nbtrainer.data.sources.to_rgb`) and goes through the same plain
(no augmentation) pipeline as the validation images.

Example::

    label, probs = learn.predict("cat.jpg")
    predictor = Predictor.from_checkpoint("nbtrainer-out/checkpoint.pt")
    label, probs = predictor.predict("cat.jpg")
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.image_checks import size_problem
from ..data.sources import BadImageError, image_problem, load_rgb, to_rgb
from ..data.transforms import Augment, make_transform
from . import checkpoint


def as_image(item) -> Image.Image | torch.Tensor:
    """A path, a file's bytes, a PIL image or a uint8 array as something the pipeline takes; a bad file
    raises :class:`BadImageError` naming it."""
    if isinstance(item, (str, os.PathLike)):
        path = str(item)
        if not Path(path).is_file():
            raise FileNotFoundError(f"predict: '{path}' does not exist (expected an image file)")
        problem = image_problem(path)
        if problem:
            raise BadImageError(f"predict: '{path}' cannot be used as an image: {problem}")
        return load_rgb(path)
    if isinstance(item, (bytes, bytearray)):
        return load_rgb(io.BytesIO(item), "the uploaded file")
    if isinstance(item, Image.Image):
        _check_size(*item.size)
        return to_rgb(item)
    arr = np.asarray(item)
    if arr.ndim in (2, 3):
        _check_size(arr.shape[1], arr.shape[0])
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise ValueError(f"predict: expected a path, a PIL image or an H x W (x 1, 3 or 4) uint8 array, got "
                         f"{type(item).__name__} {getattr(arr, 'dtype', '')} {getattr(arr, 'shape', '')}")
    arr = arr[..., None] if arr.ndim == 2 else arr[..., :3]
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)


def _check_size(width: int, height: int) -> None:
    problem = size_problem(width, height)
    if problem:
        raise BadImageError(f"predict: the image {problem}")


@torch.inference_mode()
def predict_one(model: torch.nn.Module, size: int, classes: list[str], item, device="cpu",
                forward=None) -> tuple[str, torch.Tensor]:
    """``(label, probabilities)`` of one image with ``model`` (put in eval mode) at ``size`` pixels;
    ``forward(x)`` (default: ``model(x)``) runs the model, e.g. a learner's, with its precision and memory
    format."""
    x = make_transform(size, augment=False)(as_image(item)).unsqueeze(0).to(device)
    model.eval()
    probs = (forward or model)(x).float().softmax(dim=1)[0].cpu()
    return classes[int(probs.argmax())], probs


class Predictor:
    """A trained classifier loaded from a checkpoint, for predictions only (no data set needed)."""

    def __init__(self, model: torch.nn.Module, classes: list[str], size: int, aug: Augment = Augment()):
        self.model, self.classes, self.size, self.aug = model.eval(), list(classes), size, aug

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike) -> "Predictor":
        from ..model.classifier import build_model

        ckpt = checkpoint.read(path)
        c = ckpt["config"]
        model = build_model(c["arch"], len(ckpt["classes"]), False, c["hidden"], tuple(c["ps"]))
        model.load_state_dict(ckpt["model"])
        return cls(model, ckpt["classes"], ckpt["data"]["size"], Augment(**ckpt["data"]["aug"]))

    @classmethod
    def from_model_file(cls, path: str | os.PathLike) -> "Predictor":
        """From a weights-only model file (:mod:`nbtrainer.train.model_file`: safe to load from anyone)."""
        from ..model.classifier import build_model
        from .model_file import read_model

        tensors, c = read_model(path)
        model = build_model(c["arch"], len(c["classes"]), False, c["hidden"], tuple(c["ps"]))
        try:
            model.load_state_dict(tensors)
        except RuntimeError as e:
            raise ValueError(f"model file '{path}' does not fit a {c['arch']} classifier: {e}") from None
        return cls(model, c["classes"], c["size"], Augment(**c.get("aug", {})))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "Predictor":
        """A ``.safetensors`` model file, or else a checkpoint (``.pt``)."""
        if str(path).endswith(".safetensors"):
            return cls.from_model_file(path)
        return cls.from_checkpoint(path)

    def predict(self, item) -> tuple[str, torch.Tensor]:
        return predict_one(self.model, self.size, self.classes, item)

    @torch.inference_mode()
    def predict_batch(self, items, bs: int = 64, tta: int = 0, seed: int = 0) -> torch.Tensor:
        """Class probabilities (``len(items) x classes``) of many images (paths, PIL images or arrays), run
        ``bs`` at a time through the same plain pipeline as :meth:`predict` (the same numbers, faster).
        ``tta=n``: test-time augmentation, the mean of the plain and ``n`` augmented views of each image (the
        training's augmentation settings, :attr:`aug`; the views drawn from ``seed``: the same numbers each time).

        Example::

            probs = predictor.predict_batch(["a.png", "b.png"]); probs.argmax(1)
        """
        generator = torch.Generator().manual_seed(seed)
        tfms = [make_transform(self.size, augment=False),
                *[make_transform(self.size, True, self.aug, generator)] * tta]
        out = []
        for start in range(0, len(items), bs):
            images = [as_image(item) for item in items[start:start + bs]]
            probs = sum(self.model(torch.stack([tfm(im) for im in images])).float().softmax(dim=1) for tfm in tfms)
            out.append(probs / len(tfms))
        return torch.cat(out) if out else torch.empty(0, len(self.classes))
