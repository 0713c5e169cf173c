"""An exact, in-memory snapshot of a learner's training state, kept on the CPU, restored in place.

Used by :func:`nbtrainer.lr_find.lr_find` (and anything else that must leave no trace): it holds
copies of every parameter, gradient and buffer (BatchNorm running statistics and
``num_batches_tracked`` included), the optimizer state, fp16's gradient-scaler state, the frozen groups, the train/eval mode of
every module, the recorder, the data settings and shuffling generator, and the torch / CUDA / numpy /
python random states. Nothing is written to disk (no temporary-file names to clash) and nothing
extra is allocated on the accelerator: copies live in host memory.

Example::

    with restoring(learn):          # restored on exit, also when the body raises or is interrupted
        learn.fit(1.0)              # try something destructive
"""
from __future__ import annotations

import copy
import random
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch


def copy_to(obj, device: str | torch.device = "cpu"):
    """A deep copy of ``obj`` with every tensor copied to ``device`` (``detach().to(device, copy=True)``;
    default: host memory)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to(device, copy=True)
    if isinstance(obj, dict):
        return {k: copy_to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(copy_to(v, device) for v in obj)
    return copy.deepcopy(obj)


@dataclass
class Snapshot:
    """What :func:`take` copied; :func:`restore` puts it back."""

    model: dict
    grads: dict
    optimizer: dict
    grad_scaler: dict
    n_frozen: int
    modes: list[bool]
    recorder: dict
    stage: str
    fit_state: object
    data: dict
    rng: dict


def _rng_state() -> dict:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda, "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def take(learn) -> Snapshot:
    """Copy the learner's whole training state to host memory."""
    model = learn.model
    data = learn.data
    return Snapshot(
        model=copy_to(model.state_dict()),
        grads={name: copy_to(p.grad) for name, p in model.named_parameters() if p.grad is not None},
        optimizer=copy_to(learn.opt.state_dict()),
        grad_scaler=learn.precision.state_dict(),
        n_frozen=learn.n_frozen,
        modes=[m.training for m in model.modules()],
        recorder=learn.recorder.state_dict(),
        stage=learn.recorder.stage,
        fit_state=learn.state,
        data={"size": data.size, "augment": data.augment, "generator": data.generator.get_state(),
              "eval_generator": data.eval_generator.get_state(), "precompute": learn.precompute},
        rng=_rng_state(),
    )


def restore(learn, snap: Snapshot) -> None:
    """Put back everything :func:`take` copied, in place (the optimizer keeps the same parameter objects)."""
    model = learn.model
    learn.freeze_to(snap.n_frozen)
    model.load_state_dict(snap.model)  # copies into the existing tensors, on their device
    for name, p in model.named_parameters():
        saved = snap.grads.get(name)
        p.grad = None if saved is None else saved.to(p.device)
    # a fresh copy: load_state_dict keeps CPU tensors as they are, and later steps would mutate the snapshot
    learn.opt.load_state_dict(copy_to(snap.optimizer))
    learn.precision.load_state_dict(snap.grad_scaler)
    for module, training in zip(model.modules(), snap.modes):
        module.training = training
    learn.recorder.load_state_dict(snap.recorder)
    learn.recorder.stage = snap.stage
    learn.state = snap.fit_state
    learn.data.set_size(snap.data["size"])
    learn.data.augment = snap.data["augment"]
    learn.data.generator.set_state(snap.data["generator"])
    learn.data.eval_generator.set_state(snap.data["eval_generator"])
    if learn.precompute != snap.data["precompute"]:  # setting it re-hashes the body (~15 ms): only on a change
        learn.precompute = snap.data["precompute"]
    _set_rng_state(snap.rng)


@contextmanager
def restoring(learn):
    """Run the ``with`` body, then restore the learner exactly, whatever happened in the body."""
    snap = take(learn)
    try:
        yield snap
    finally:
        restore(learn, snap)
