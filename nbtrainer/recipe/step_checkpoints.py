"""A checklist step's checkpoint on disk: the learner right after the step, and the checklist's LR state.

One checkpoint dict (:mod:`nbtrainer.train.checkpoint`) of the learner's :data:`~nbtrainer.train.learner_state.RESUMABLE`
state (a checkpoint's, plus whether precompute was on and the random states and the data's shuffling
generators, so a run continued from a step checkpoint is the run that followed the step), written atomically,
plus the checklist's suggested/picked LR, ratios and how much of its
history and LR sweeps existed then. Read back with ``torch.load(weights_only=True)``.

Example::

    checklist = Checklist.recipe(learn, checkpoint_dir="session/")   # writes session/step-NN.pt
    checklist.run_step(2)
    checklist.go_back(2)                                           # loads session/step-02.pt
"""
from __future__ import annotations

import os

from .. import distributed
from ..train import checkpoint, learner_state


def save(checklist, index: int, path: str | os.PathLike) -> None:
    """Write the learner and checklist state right after step ``index`` to ``path`` (atomically; under
    torch.distributed rank 0 writes for all)."""
    learn = checklist.learn
    if not distributed.current().is_main:
        return
    ckpt = checkpoint.to_dict(learn, learner_state.RESUMABLE)
    ckpt.update({
        "step": {"index": index, "name": checklist.steps[index].name},
        "checklist": {"suggested_lr": checklist.suggested_lr, "picked_lr": checklist.picked_lr,
                      "ratios": list(checklist.ratios), "history": len(checklist.history),
                      "lr_finds": len(checklist.lr_finds)},
    })
    checkpoint.atomic_torch_save(ckpt, path)


def load(checklist, index: int, path: str | os.PathLike) -> None:
    """Restore what :func:`save` wrote for step ``index``; nothing changes if the file does not fit."""
    ckpt = checkpoint.read(path)
    if ckpt.get("step", {}).get("index") != index:
        raise ValueError(f"'{path}' is not the checkpoint of step {index} (it holds {ckpt.get('step')})")
    learn = checklist.learn
    checkpoint.apply(learn, ckpt, path)  # its precompute and random states too
    saved = ckpt["checklist"]
    checklist.suggested_lr, checklist.picked_lr = saved["suggested_lr"], saved["picked_lr"]
    checklist.ratios = list(saved["ratios"])
    del checklist.history[saved["history"]:]
    del checklist.lr_finds[saved["lr_finds"]:]
