"""The classifier: a pretrained body, concat pooling and a new head; its layer groups; freeze/unfreeze.

Layer groups (fastai's split): with ``n_groups=3`` the body is cut where its feature map first
shrinks to 1/16 of the input (resnet: before ``layer3``; EfficientNet-Lite0: before its fourth stage),
giving (early body, late body, head). With ``n_groups=k`` the body is cut where the feature map first
reaches 1/16, 1/8, 1/4... of the input, so each cut sits at a stage boundary.

BatchNorm policy: the BatchNorm layers of a frozen group are kept in eval mode while training, so
their running statistics stay exactly as pretrained (a frozen body is bit-identical after a fit).
With ``bn_freeze=True`` (fastai 0.7's ``learn.bn_freeze(True)``) every body BatchNorm stays in eval
mode even when unfrozen; its affine weights still train. The head's BatchNorm always trains.
``bn_freeze`` is on by default, on every data set: the head was trained on features normalized with
the body's pretrained running statistics (a frozen body runs in eval mode, as the precomputed cache
must), and switching to batch statistics at ``unfreeze`` shifts every feature the head learned.
Measured (``benchmarks/README.md``): without it the unfrozen LR sweep of the texture set started at a
training loss of 1.36 instead of 0.45, and the unfrozen step lost accuracy on the photo and texture
sets (and the digits, where it fell from 87% to 13% in one epoch); with it, it gained.

Example::

    model = build_model("efficientnet_lite0", n_classes=10)
    groups = model.layer_groups(3)                 # [early body, late body, head]
    set_frozen(groups, n_frozen=2)                 # train the head only
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .backbones import Body, load_body

MAX_GROUPS = 5


class Normalize(nn.Module):
    """``(x - mean) / std`` with fixed buffers, so the model takes images scaled to [0, 1]."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ConcatPool(nn.Module):
    """Average and max pooling side by side, flattened: ``(N, C, H, W) -> (N, 2C)`` (fastai's head input)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean((2, 3)), x.amax((2, 3))], dim=1)


def create_head(n_in: int, n_classes: int, hidden: int = 512, ps: tuple[float, float] = (0.25, 0.5)) -> nn.Sequential:
    """fastai's head: BN -> Dropout -> Linear -> ReLU -> BN -> Dropout -> Linear."""
    return nn.Sequential(
        nn.BatchNorm1d(n_in), nn.Dropout(ps[0]), nn.Linear(n_in, hidden), nn.ReLU(inplace=True),
        nn.BatchNorm1d(hidden), nn.Dropout(ps[1]), nn.Linear(hidden, n_classes),
    )


class Classifier(nn.Module):
    """``normalize -> body -> pool -> head``; :meth:`features` is everything up to the head."""

    def __init__(self, body: Body, n_classes: int, hidden: int = 512, ps: tuple[float, float] = (0.25, 0.5)):
        super().__init__()
        self.arch = body.arch
        self.normalize = Normalize(body.mean, body.std)
        self.body = body.module
        self.pool = ConcatPool()
        self.head = create_head(2 * body.n_features, n_classes, hidden, ps)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.body(self.normalize(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def layer_groups(self, n_groups: int = 3) -> list[nn.ModuleList]:
        """The model cut into ``n_groups`` consecutive groups, the head last."""
        if not 2 <= n_groups <= MAX_GROUPS:
            raise ValueError(f"n_groups={n_groups!r}: expected an integer from 2 to {MAX_GROUPS}")
        children = list(self.body.children())
        cuts = body_cuts(self.body, n_groups - 1)
        bounds = [0, *cuts, len(children)]
        groups = [nn.ModuleList(children[a:b]) for a, b in zip(bounds, bounds[1:])]
        return [*groups, nn.ModuleList([self.pool, self.head])]


def body_cuts(body: nn.Sequential, n_parts: int, probe_size: int = 64) -> list[int]:
    """Indices where the body is cut into ``n_parts``: the first child whose output reaches 1/16, 1/8...

    Found by running a probe image through the children, so it works for any architecture whose
    feature maps shrink stage by stage.
    """
    strides = []
    with torch.no_grad():
        was_training = body.training
        body.eval()
        x = torch.zeros(1, 3, probe_size, probe_size)
        for child in body.children():
            x = child(x)
            strides.append(probe_size / x.shape[-1])
        body.train(was_training)
    targets = [16 / 2 ** i for i in range(n_parts - 1)][::-1]  # e.g. 3 parts -> [8, 16]
    cuts = []
    for target in targets:
        index = next((i for i, s in enumerate(strides) if s >= target), None)
        if index is None or index == 0 or (cuts and index <= cuts[-1]):
            raise ValueError(f"cannot cut this body into {n_parts} parts at strides {targets}")
        cuts.append(index)
    return cuts


def build_model(arch: str, n_classes: int, pretrained: bool = True, hidden: int = 512,
                ps: tuple[float, float] = (0.25, 0.5)) -> Classifier:
    """A :class:`Classifier` for ``n_classes`` on the pretrained body of ``arch``."""
    if n_classes < 2:
        raise ValueError(f"n_classes={n_classes!r}: a classifier needs at least 2 classes")
    return Classifier(load_body(arch, pretrained), n_classes, hidden, ps)


def set_frozen(groups: Sequence[nn.Module], n_frozen: int) -> None:
    """Freeze the first ``n_frozen`` groups (no gradients) and unfreeze the rest."""
    if not 0 <= n_frozen < len(groups):
        raise ValueError(f"n_frozen={n_frozen!r}: expected 0..{len(groups) - 1} (the head always trains)")
    for i, group in enumerate(groups):
        for p in group.parameters():
            p.requires_grad_(i >= n_frozen)


def set_train_mode(model: nn.Module, groups: Sequence[nn.Module], n_frozen: int, bn_freeze: bool) -> None:
    """``model.train()``, then BatchNorm layers of frozen groups (or all body groups if ``bn_freeze``) to eval."""
    model.train()
    body_groups = groups[:-1]
    for i, group in enumerate(body_groups):
        if i < n_frozen or bn_freeze:
            for m in group.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
