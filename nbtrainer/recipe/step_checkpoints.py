"""A checklist step's checkpoint on disk: the learner and the checklist right after the step.

One checkpoint dict (:mod:`nbtrainer.train.checkpoint`) of the learner's
:data:`~nbtrainer.train.learner_state.RESUMABLE` state (a checkpoint's, plus whether precompute was on, the
random states and the ensemble's cycle ends, so a run continued from it is the run that followed the step)
and :meth:`Checklist.state_dict`, written atomically; read back with ``torch.load(weights_only=True)``.

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
    if not distributed.current().is_main:
        return
    ckpt = checkpoint.to_dict(checklist.learn, learner_state.RESUMABLE)
    ckpt.update({"step": {"index": index, "name": checklist.steps[index].name}, "checklist": checklist.state_dict()})
    checkpoint.atomic_torch_save(ckpt, path)


def load(checklist, index: int, path: str | os.PathLike) -> None:
    """Restore what :func:`save` wrote for step ``index``; nothing changes if the file does not fit."""
    ckpt = checkpoint.read(path)
    if ckpt.get("step", {}).get("index") != index:
        raise ValueError(f"'{path}' is not the checkpoint of step {index} (it holds {ckpt.get('step')})")
    checkpoint.apply(checklist.learn, ckpt, path)  # its precompute and random states too
    checklist.load_state_dict(ckpt["checklist"])
