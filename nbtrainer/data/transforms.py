"""Image pipelines (torchvision transforms v2): plain (centre square, resized) and augmented.

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
import torch.nn.functional as nnf
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F


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


def make_transform(size: int, augment: bool, aug: Augment = Augment(),
                   generator: torch.Generator | None = None) -> v2.Compose:
    """Pipeline for one image (PIL or uint8 tensor CxHxW) to a float tensor ``3 x size x size``; augmented
    with ``aug``'s random draws from ``generator`` (None: torch's global generator, which a DataLoader seeds
    in each of its worker processes)."""
    if not augment:
        return v2.Compose([v2.ToImage(), v2.RGB(), SquareResize(size)])
    steps = [v2.ToImage(), v2.RGB(), v2.Resize(size, antialias=True), RandomAugment(size, aug, generator)]
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True)])


class SquareResize:
    """:func:`square_resize` as a pipeline step; its repr (part of the precompute cache's key) is the same in
    every process, where a ``functools.partial``'s holds a memory address."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return square_resize(image, self.size)

    def __repr__(self) -> str:
        return f"SquareResize(size={self.size})"


def square_resize(image: torch.Tensor, size: int) -> torch.Tensor:
    """The plain pipeline's pixels: the centre square of a uint8 image ``(N x) C x H x W``, resized to ``size``
    (bilinear, antialiased, in float32), scaled to [0, 1].

    One definition for every plain prediction: validation, ``learn.predict`` and the exported ONNX and
    ``torch.export`` graphs run this very function, so a page or a phone gets ``learn.predict``'s
    probabilities (within float rounding). The resize is in float, not torchvision's uint8 path: that path
    rounds to whole grey levels with its own fixed-point arithmetic, which no exported graph reproduces
    (1/255 a pixel moved a barely trained model's probabilities by up to 0.07). Under an export,
    ``index_select`` crops the square without a branch on which side is shorter (a slice specialises the
    graph to wide pictures: a guard fails on tall ones); run eagerly, a view crops the same pixels. Cost: a
    12 MP photo takes ~80 ms here against ~36 ms in torchvision's uint8 path (one thread), small beside
    decoding the JPEG; a camera's or a folder's usual pictures, well under 1 ms either way.

    Example::

        square_resize(torch.zeros(3, 480, 640, dtype=torch.uint8), 224).shape   # torch.Size([3, 224, 224])
    """
    h, w = image.shape[-2], image.shape[-1]
    side = torch.sym_min(h, w)
    if torch.compiler.is_exporting() or torch.compiler.is_compiling():
        rows = torch.arange(side, device=image.device) + (h - side) // 2
        cols = torch.arange(side, device=image.device) + (w - side) // 2
        x = image.index_select(-2, rows).index_select(-1, cols)
    else:  # the same pixels; a gather along the rows is ~5x slower than the view (174 ms for a 12 MP photo)
        x = image.narrow(-2, (h - side) // 2, side).narrow(-1, (w - side) // 2, side)
    x = x.float()
    batch = x.unsqueeze(0) if x.dim() == 3 else x
    x = nnf.interpolate(batch, size=[size, size], mode="bilinear", antialias=True, align_corners=False) / 255.0
    return x[0] if image.dim() == 3 else x


class RandomAugment:
    """fastai's ``aug_transforms`` on one resized image: a random rotation, shift and zoom (bilinear), the
    centre crop, a random horizontal flip, random brightness and contrast, in that order.

    The images are changed by torchvision's kernels (``v2.functional``); the random parameters are drawn here,
    as ``v2.RandomAffine``, ``RandomHorizontalFlip`` and ``ColorJitter`` draw them, but from ``generator``:
    torchvision's random transforms draw only from torch's global generator, which the training thread
    draws from too, so a preview drawn beside a running fit would change (or, reseeded, repeat) the fit's
    augmentation and dropout.

    Example::

        tfm = RandomAugment(64, Augment(), torch.Generator().manual_seed(0))
        tfm(v2.Resize(64)(v2.ToImage()(pil_image)))   # the same views for the same seed, whatever else runs
    """

    def __init__(self, size: int, aug: Augment, generator: torch.Generator | None = None):
        self.size, self.aug, self.generator = size, aug, generator

    def _uniform(self, low: float, high: float) -> float:
        return float(torch.empty(1).uniform_(low, high, generator=self.generator).item())

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        aug, (height, width) = self.aug, image.shape[-2:]
        angle = self._uniform(-aug.max_rotate, aug.max_rotate)
        shift = [int(round(self._uniform(-aug.max_translate * n, aug.max_translate * n))) for n in (width, height)]
        zoom = self._uniform(1.0, aug.max_zoom)
        # (v2's default NEAREST makes jagged training images unlike the smooth plain ones the model is judged on)
        image = F.affine(image, angle=angle, translate=shift, scale=zoom, shear=[0.0, 0.0],
                         interpolation=v2.InterpolationMode.BILINEAR)
        image = F.center_crop(image, [self.size, self.size])
        if aug.do_flip and torch.rand(1, generator=self.generator).item() < 0.5:
            image = F.horizontal_flip(image)
        if aug.max_lighting > 0:
            low, high = max(0.0, 1 - aug.max_lighting), 1 + aug.max_lighting
            brightness, contrast = self._uniform(low, high), self._uniform(low, high)
            for change in torch.randperm(2, generator=self.generator).tolist():  # ColorJitter's random order
                image = (F.adjust_brightness(image, brightness) if change == 0
                         else F.adjust_contrast(image, contrast))
        return image
