"""Image pipelines (torchvision transforms v2): plain (resize + centre crop) and augmented.

Every pipeline ends with float images in [0, 1]; the model normalizes them itself
(:class:`nbtrainer.model.classifier.Normalize`), so the data does not depend on the architecture.

Example::

    aug = Augment(do_flip=False, max_rotate=10)
    tfm = make_transform(64, augment=True, aug=aug)
    tfm(pil_image).shape   # torch.Size([3, 64, 64])
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torchvision.transforms import v2


@dataclass(frozen=True)
class Augment:
    """Augmentation settings, named after fastai's ``aug_transforms``.

    Args:
        do_flip: random horizontal flips (turn off for digits, text, anything with a handedness).
        max_rotate: rotations up to this many degrees either way.
        max_zoom: zoom in by up to this factor.
        max_translate: shifts up to this fraction of the image size.
        max_lighting: brightness and contrast change by up to this fraction.
    """

    do_flip: bool = True
    max_rotate: float = 10.0
    max_zoom: float = 1.1
    max_translate: float = 0.1
    max_lighting: float = 0.2

    def __post_init__(self) -> None:
        for name, (lo, hi) in AUGMENT_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise ValueError(f"Augment {name}={value!r}: expected a number in [{lo}, {hi}]")

    def to_dict(self) -> dict:
        return asdict(self)


AUGMENT_RANGES = {"max_rotate": (0.0, 180.0), "max_zoom": (1.0, 4.0), "max_translate": (0.0, 0.5),
                  "max_lighting": (0.0, 1.0)}  # the values an Augment accepts (do_flip: a bool)


def make_transform(size: int, augment: bool, aug: Augment = Augment()) -> v2.Compose:
    """Pipeline for one image (PIL or uint8 tensor CxHxW) to a float tensor ``3 x size x size``."""
    steps: list[v2.Transform] = [v2.ToImage(), v2.RGB(), v2.Resize(size, antialias=True)]
    if augment:
        steps.append(v2.RandomAffine(degrees=aug.max_rotate, translate=(aug.max_translate,) * 2,
                                     scale=(1.0, aug.max_zoom), interpolation=v2.InterpolationMode.BILINEAR))
        # (v2's default NEAREST makes jagged training images unlike the smooth plain ones the model is judged on)
    steps.append(v2.CenterCrop(size))
    if augment:
        if aug.do_flip:
            steps.append(v2.RandomHorizontalFlip())
        if aug.max_lighting > 0:
            steps.append(v2.ColorJitter(brightness=aug.max_lighting, contrast=aug.max_lighting))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    return v2.Compose(steps)
