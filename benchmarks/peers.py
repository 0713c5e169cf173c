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
