"""Bodies with real pretrained weights, layer groups, freezing and the BatchNorm policy."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from nbtrainer.model.backbones import lite0_imagenet_model, load_body
from nbtrainer.model.classifier import body_cuts, build_model, set_frozen, set_train_mode

def _imagenet_top5(model, image) -> list[int]:
    x = torchvision.transforms.v2.functional.resize(torch.from_numpy(image).permute(2, 0, 1), [224, 224])
    x = (x.float() / 255 - 0.5) / 0.5  # Lite0 was trained with mean = std = 0.5
    with torch.no_grad():
        return model.eval()(x[None]).topk(5).indices[0].tolist()

def test_lite0_weights_are_really_pretrained_on_imagenet():
    from skimage import data as skimage_data  # real photos shipped by scikit-image (test extra)

    model = lite0_imagenet_model(pretrained=True)
    assert _imagenet_top5(model, skimage_data.coffee())[0] == 967  # espresso
    assert 281 <= _imagenet_top5(model, skimage_data.chelsea())[0] <= 285  # a domestic cat class
    random_init = lite0_imagenet_model(pretrained=False)
    assert _imagenet_top5(random_init, skimage_data.coffee())[0] != 967

def test_lite0_groups_split_like_fastai_and_cover_every_parameter_once():
    model = build_model("efficientnet_lite0", n_classes=10, pretrained=False)
    groups = model.layer_groups(3)
    assert len(groups) == 3
    ids = [id(p) for g in groups for p in g.parameters()]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    # cut where the feature map reaches 1/16: before the 4th block stage (stem, bn, 3 stages = 5 children)
    assert body_cuts(model.body, 2) == [5]
    assert groups[2][1] is model.head
    assert len(model.layer_groups(4)) == 4 and body_cuts(model.body, 3) == [4, 5]
    with pytest.raises(ValueError, match="n_groups=1"):
        model.layer_groups(1)

def test_torchvision_weights_api_loads_the_cached_file_offline(tmp_path, monkeypatch):
    """A user with internet downloads into $TORCH_HOME; here the test puts a state_dict there itself."""
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    reference = torchvision.models.resnet18()
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(reference.state_dict(), cache / weights.url.rsplit("/", 1)[-1])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    body = load_body("resnet18", pretrained=True)
    assert torch.equal(body.module[0].weight, reference.conv1.weight)
    assert torch.equal(body.module[7][1].conv2.weight, reference.layer4[1].conv2.weight)
    assert body.n_features == 512 and body.mean == (0.485, 0.456, 0.406)
    model = build_model("resnet18", n_classes=3, pretrained=True)
    assert body_cuts(model.body, 2) == [6]  # fastai's resnet split: before layer3

def test_torchvision_archs_without_weights_build_and_split():
    model = build_model("mobilenet_v3_small", n_classes=4, pretrained=False)
    groups = model.layer_groups(3)
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 4)
    assert sum(1 for g in groups for _ in g.parameters()) == len(list(model.parameters()))

def test_unknown_arch_and_too_few_classes_are_clear_errors():
    with pytest.raises(ValueError, match=r"arch='resnet9000'.*efficientnet_lite0"):
        load_body("resnet9000")
    with pytest.raises(ValueError, match="n_classes=1"):
        build_model("efficientnet_lite0", n_classes=1, pretrained=False)

def test_frozen_groups_get_no_gradients_and_their_batchnorm_stays_in_eval_mode():
    model = build_model("efficientnet_lite0", n_classes=3, pretrained=False)
    groups = model.layer_groups(3)
    set_frozen(groups, 2)
    assert not any(p.requires_grad for g in groups[:2] for p in g.parameters())
    assert all(p.requires_grad for p in groups[2].parameters())
    set_train_mode(model, groups, n_frozen=2, bn_freeze=False)
    bns = lambda g: [m for m in g.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert bns(groups[0]) and not any(m.training for g in groups[:2] for m in bns(g))
    assert all(m.training for m in bns(groups[2]))
    set_frozen(groups, 0)
    set_train_mode(model, groups, n_frozen=0, bn_freeze=False)
    assert all(m.training for g in groups for m in bns(g))
    set_train_mode(model, groups, n_frozen=0, bn_freeze=True)
    assert not any(m.training for g in groups[:2] for m in bns(g)) and all(m.training for m in bns(groups[2]))
    with pytest.raises(ValueError, match="n_frozen=3"):
        set_frozen(groups, 3)
