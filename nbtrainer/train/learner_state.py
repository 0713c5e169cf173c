"""One definition of a learner's state: each part's name, how it is read and how it is put back.

:meth:`Learner.state_dict` and :meth:`Learner.load_state_dict` use this table, and so does everything that
saves or restores a learner, each with the parts it needs:

- :data:`MODEL`: the ensemble's cycle-end weights (``fit(snapshots=...)``) and the learner's own weights
  around the ensemble's passes;
- :data:`WEIGHTS` (model and optimizer): ``fit(keep_best=True)`` (the best cycle end); :data:`GUARD` (the
  trainable groups' part of them): the divergence guard, a copy on the device each epoch; :data:`RESIZE`
  (and the size): a resize step's start;
- :data:`CHECKPOINT`: ``learn.save`` (plus the classes, config and versions: :mod:`nbtrainer.train.checkpoint`);
- :data:`RESUMABLE`: a checklist step's checkpoint (precompute, the random states and the ensemble's
  cycle-end weights too, so a run continued from it is the run that followed the step, and "Back" drops
  the cycle ends of the fits it undoes);
- :data:`EXACT`: lr_find's in-memory restore, :func:`restoring` (the gradients, every module's train/eval
  mode and the loop's state too: the learner is put back bit for bit). Its copies live in host memory:
  nothing is written to disk and nothing extra is allocated on the accelerator.

A new piece of state is added here once, and every one of them saves and restores it. The data's own
state (size, augmentation, its generators) is :meth:`ImageData.state_dict`'s, one part here ("data").

Example::

    state = copy_to(learn.state_dict(EXACT))   # the values are live references: copy what must not change
    learn.fit(1.0)
    learn.load_state_dict(state)               # the parts present in ``state``, in this module's order
"""
from __future__ import annotations

import copy
import random
from collections.abc import Callable, Collection
from contextlib import contextmanager

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


def _get_rng(learn) -> dict:
    """The global random states (the data's own generators are in its part, "data")."""
    numpy = np.random.get_state(legacy=False)  # a dict; its key array as a tensor so weights_only loads it
    numpy["state"] = {**numpy["state"], "key": torch.from_numpy(numpy["state"]["key"].astype(np.int64))}
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available()
            else [], "numpy": numpy, "python": random.getstate()}


def _set_rng(learn, rng: dict) -> None:
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    numpy = dict(rng["numpy"])
    numpy["state"] = {**numpy["state"], "key": numpy["state"]["key"].numpy().astype(np.uint32)}
    np.random.set_state(numpy)
    random.setstate(tuple(tuple(v) if isinstance(v, list) else v for v in rng["python"]))
    for name in ("generator", "eval_generator"):  # where step checkpoints of nbtrainer 0.1 kept the data's
        if name in rng:
            getattr(learn.data, name).set_state(rng[name])


def _set_grads(learn, grads: dict) -> None:
    for name, p in learn.model.named_parameters():
        saved = grads.get(name)
        p.grad = None if saved is None else saved.to(p.device, copy=True)


def _set_modes(learn, modes: list[bool]) -> None:
    for module, training in zip(learn.model.modules(), modes):
        module.training = training


def _set_precompute(learn, on: bool) -> None:
    if learn.precompute != on:  # setting it re-hashes the body (~15 ms): only on a change
        learn.precompute = on


def _set_fit_state(learn, state) -> None:
    learn.state = state


def _set_snapshots(learn, snapshots: list[dict]) -> None:
    learn.snapshots = list(snapshots)


def _trainable_tensors(learn):
    """``("<group>.<name>", tensor)`` of every parameter and buffer of the layer groups that train."""
    for i in range(learn.n_frozen, len(learn.layer_groups)):
        group = learn.layer_groups[i]
        for name, tensor in [*group.named_parameters(), *group.named_buffers()]:
            yield f"{i}.{name}", tensor


def _get_trainable(learn) -> dict:
    """What an epoch can change of the model: the trainable groups' parameters and buffers (read group by
    group: walking the whole model for its state_dict costs more than the copy on a head)."""
    return {key: tensor.detach() for key, tensor in _trainable_tensors(learn)}


@torch.no_grad()
def _set_trainable(learn, saved: dict) -> None:
    for key, tensor in _trainable_tensors(learn):
        tensor.copy_(saved[key])


# name -> (read, put back); put back in this order (freezing first: it decides what precompute may do)
PARTS: dict[str, tuple[Callable, Callable]] = {
    "n_frozen": (lambda learn: learn.n_frozen, lambda learn, n: learn.freeze_to(n)),
    "model": (lambda learn: learn.model.state_dict(), lambda learn, s: learn.model.load_state_dict(s)),
    "grads": (lambda learn: {name: p.grad for name, p in learn.model.named_parameters() if p.grad is not None},
              _set_grads),
    # a copy: Optimizer.load_state_dict keeps tensors already on the right device, and later steps would
    # change the saved state in place
    "optimizer": (lambda learn: learn.opt.state_dict(),
                  lambda learn, s: learn.opt.load_state_dict(copy_to(s, learn.device))),
    "grad_scaler": (lambda learn: learn.precision.state_dict(), lambda learn, s: learn.precision.load_state_dict(s)),
    "modes": (lambda learn: [m.training for m in learn.model.modules()], _set_modes),
    "history": (lambda learn: learn.recorder.state_dict(), lambda learn, s: learn.recorder.load_state_dict(s)),
    "fit_state": (lambda learn: learn.state, _set_fit_state),
    # size, augmentation and the data's generators (ImageData.state_dict)
    "data": (lambda learn: learn.data.state_dict(), lambda learn, s: learn.data.load_state_dict(s)),
    "precompute": (lambda learn: learn.precompute, _set_precompute),
    "rng": (_get_rng, _set_rng),
    # the cycle-end weights of the snapshot ensemble (host copies, never changed in place: a list of the same
    # dicts is a copy); not in a checkpoint, which starts with none
    "snapshots": (lambda learn: list(learn.snapshots), _set_snapshots),
}
# views of a part (read and put back a piece of it): not in EXACT, whose "model" and "data" hold them already
VIEWS: dict[str, tuple[Callable, Callable]] = {
    "trainable": (_get_trainable, _set_trainable),
    "size": (lambda learn: learn.data.size, lambda learn, size: learn.set_size(size)),
}
_ALL = {**PARTS, **VIEWS}
MODEL = ("model",)  # the ensemble's cycle ends, and the learner's own weights around an ensemble's passes
WEIGHTS = ("model", "optimizer")
GUARD = ("trainable", "optimizer")  # the divergence guard, every epoch: only what the epoch can change
RESIZE = (*WEIGHTS, "size", "snapshots")  # a resize step's start, put back when the new size does not help
CHECKPOINT = ("n_frozen", "model", "optimizer", "grad_scaler", "history", "data")
RESUMABLE = (*CHECKPOINT, "precompute", "rng", "snapshots")
EXACT = (*RESUMABLE, "grads", "modes", "fit_state")


def state_dict(learn, parts: Collection[str] = CHECKPOINT) -> dict:
    """``{part: value}`` for ``parts`` (names of :data:`PARTS` or :data:`VIEWS`); values are live references,
    as ``nn.Module.state_dict``'s: copy them (:func:`copy_to`) to keep them unchanged."""
    unknown = set(parts) - set(_ALL)
    if unknown:
        raise ValueError(f"unknown learner state parts {sorted(unknown)}; expected some of {list(_ALL)}")
    return {name: read(learn) for name, (read, _) in _ALL.items() if name in parts}


def load_state_dict(learn, state: dict) -> None:
    """Put back every part present in ``state``, in :data:`PARTS`' order; a key that is no part is an error
    before anything is put back (as :meth:`state_dict` refuses unknown parts: a misspelt part never passes
    silently)."""
    unknown = set(state) - set(_ALL)
    if unknown:
        raise ValueError(f"unknown learner state parts {sorted(unknown)}; expected some of {list(_ALL)}")
    for name, (_, put) in _ALL.items():
        if name in state:
            put(learn, state[name])


def take(learn, parts: Collection[str] = EXACT) -> dict:
    """Copy ``parts`` of the learner's state (default: all of it, :data:`EXACT`) to host memory. The loop's
    state and the ensemble's weights are kept by reference: every fit and sweep starts a new loop state and a
    new list of cycle-end weights, none changes an old one."""
    state = state_dict(learn, parts)
    kept = {name: state.pop(name) for name in ("fit_state", "snapshots") if name in state}
    return {**copy_to(state), **kept}


def restore(learn, snap: dict) -> None:
    """Put back, in place, what :func:`take` copied (the optimizer keeps the same parameter objects)."""
    load_state_dict(learn, snap)


@contextmanager
def restoring(learn, parts: Collection[str] = EXACT):
    """Run the ``with`` body, then put ``parts`` of the learner's state back (default: all of it, exactly),
    whatever happened in the body.

    Example::

        with restoring(learn):          # restored on exit, also when the body raises or is interrupted
            learn.fit(1.0)              # try something destructive
        with restoring(learn, MODEL):   # only the weights (an ensemble's passes load others)
            ...
    """
    snap = take(learn, parts)
    try:
        yield snap
    finally:
        restore(learn, snap)
