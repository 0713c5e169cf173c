"""The peers the benchmarks compare nbtrainer with, on nbtrainer's own model and loaders (so the model, the
data, the batch size and the seed are the same on both sides): a hand-written PyTorch loop, and fastai 2.x
(``pip install -e ".[bench]"``) through its documented plain-PyTorch path (``DataLoaders(train_dl,
valid_dl)`` + ``Learner(dls, model, ...)``)."""
from __future__ import annotations

import contextlib
import io
from functools import partial

import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts

from nbtrainer import Learner


def hand_written_epoch(learn: Learner, lr: float) -> float:
    """One epoch the way a PyTorch user writes it: SGD (momentum 0.9, wd 1e-4) over the trainable layer
    groups, a per-batch cosine schedule, then a validation pass. Returns the validation accuracy."""
    model = learn.model
    groups = [{"params": [p for p in g.parameters() if p.requires_grad], "lr": lr} for g in learn.layer_groups]
    opt = torch.optim.SGD([g for g in groups if g["params"]], lr=lr, momentum=0.9, weight_decay=1e-4)
    train_dl = learn.data.train_dl()
    sched = CosineAnnealingWarmRestarts(opt, T_0=len(train_dl))
    model.train()
    for xb, yb in train_dl:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    correct = total = 0
    with torch.inference_mode():
        for xb, yb in learn.data.valid_dl():
            correct += int((model(xb).argmax(1) == yb).sum())
            total += len(yb)
    return correct / total


def fastai_learner(learn: Learner, opt: str = "sgd"):
    """A fastai ``Learner`` over nbtrainer's model, loaders and layer groups (fastai's own optimizer)."""
    from fastai.metrics import accuracy
    from fastai.optimizer import SGD, Adam
    from fastai.vision.all import DataLoaders
    from fastai.vision.all import Learner as FastaiLearner

    dls = DataLoaders(learn.data.train_dl(), learn.data.valid_dl())
    opt_func = partial(SGD, mom=0.9, wd=1e-4) if opt == "sgd" else Adam
    groups = [list(g.parameters()) for g in learn.layer_groups]
    return FastaiLearner(dls, learn.model, loss_func=torch.nn.CrossEntropyLoss(), opt_func=opt_func,
                         metrics=accuracy, splitter=lambda model: groups)


@contextlib.contextmanager
def quiet_fastai(flearn):
    """No progress bar, no printed table."""
    with flearn.no_bar(), flearn.no_logging(), contextlib.redirect_stdout(io.StringIO()):
        yield


def fastai_documented(folder: str, size: int, epochs: int, model: torch.nn.Module, groups, seed: int,
                      freeze_bn: bool = False, bs: int = 64):
    """fastai 2.x as its docs teach a folder (the "Image classification" tutorial and the ``DataBlock``
    tutorial): its own ``DataBlock`` (``Resize`` per item, ``aug_transforms`` per batch), ``lr_find().valley``
    as ``base_lr``, ``fine_tune(epochs)`` (one frozen epoch, then ``epochs`` unfrozen); on the same body as
    nbtrainer (``model``: images in [0, 1], normalised inside; ``groups``: its layer groups for fastai's
    splitter). ``freeze_bn``: the body's BatchNorm kept in eval mode (what nbtrainer does), to show what
    fastai does without its train-mode BatchNorm. Returns the fastai ``Learner`` (``test/`` is not read)."""
    from fastai.callback.core import Callback
    from fastai.losses import CrossEntropyLossFlat
    from fastai.metrics import accuracy
    from fastai.torch_core import set_seed
    from fastai.vision.all import (CategoryBlock, DataBlock, GrandparentSplitter, ImageBlock, Resize,
                                   aug_transforms, get_image_files, parent_label)
    from fastai.vision.all import Learner as FastaiLearner

    class FrozenBatchNorm(Callback):
        order = 1  # after fastai's TrainEvalCallback has put the model in train mode

        def before_train(self):
            for m in model.body.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()

    set_seed(seed, reproducible=True)
    block = DataBlock(blocks=(ImageBlock, CategoryBlock),
                      get_items=lambda p: [f for f in get_image_files(p) if f.parent.parent.name in ("train", "valid")],
                      splitter=GrandparentSplitter(train_name="train", valid_name="valid"), get_y=parent_label,
                      item_tfms=Resize(size), batch_tfms=aug_transforms(size=size))
    dls = block.dataloaders(folder, bs=bs, num_workers=0)
    flearn = FastaiLearner(dls, model, loss_func=CrossEntropyLossFlat(), metrics=accuracy,
                           splitter=lambda m: [list(g.parameters()) for g in groups],
                           cbs=[FrozenBatchNorm()] if freeze_bn else [])
    with quiet_fastai(flearn):
        valley = flearn.lr_find(show_plot=False).valley
        flearn.fine_tune(epochs, base_lr=valley)
    return flearn


def fastai_predictions(flearn, folder: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """fastai's own predictions (``get_preds``) and TTA (``tta``, its defaults) of the validation and test
    folders: ``{"valid": (probs, targets), "valid_tta": ..., "test": ..., "test_tta": ...}``."""
    from pathlib import Path

    from fastai.vision.all import get_image_files

    test = flearn.dls.test_dl(get_image_files(Path(folder) / "test"), with_labels=True)
    out = {}
    with quiet_fastai(flearn):
        for name, dl in (("valid", flearn.dls.valid), ("test", test)):
            out[name] = flearn.get_preds(dl=dl)[:2]
            out[f"{name}_tta"] = flearn.tta(dl=dl)[:2]
    return out
