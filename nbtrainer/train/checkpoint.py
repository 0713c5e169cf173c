"""One-dict checkpoints (nanoGPT style), written atomically, read with ``torch.load(weights_only=True)``.

The dict: ``format``, ``model``, ``optimizer``, ``grad_scaler`` (fp16 only), ``layer_groups`` (names),
``n_frozen``, ``data`` (size, augmentation, generators: ``ImageData.state_dict``), ``classes``, ``history``
(the recorder), ``config`` (the Learner's arguments), ``versions``. Checkpoints of nbtrainer 0.1 kept
``size``, ``augment`` and ``aug`` at the top: they are read as ``data``.

Example::

    learn.save("digits.pt")
    ckpt = torch.load("digits.pt", weights_only=True)    # plain dict, no pickled code
    learn2 = Learner(data); learn2.load("digits.pt")
"""
from __future__ import annotations

import os
from collections.abc import Collection
from importlib import metadata
from pathlib import Path

import torch

from ..data.journal import write_atomically
from ..data.transforms import Augment
from . import learner_state

FORMAT = "nbtrainer.train.checkpoint/1"


def versions() -> dict[str, str]:
    """Versions of nbtrainer and torch, kept in every checkpoint and report."""
    return {"nbtrainer": metadata.version("nbtrainer"), "torch": str(torch.__version__)}  # (not the package root)


def to_dict(learn, parts: Collection[str] = learner_state.CHECKPOINT) -> dict:
    """The learner as one dict of tensors and plain Python values: its state (``parts``: see
    :mod:`nbtrainer.train.learner_state`) and what checks a checkpoint against a learner (groups, classes, config)."""
    return {"format": FORMAT, **learn.state_dict(parts), "layer_groups": learn.group_names,
            "classes": list(learn.data.classes), "config": dict(learn.config), "versions": versions()}


def atomic_torch_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` streamed to a temporary file in the same folder, fsynced, then renamed over ``path``
    (:func:`nbtrainer.data.journal.write_atomically`): a crash mid-write leaves the previous file whole."""
    return write_atomically(path, lambda f: torch.save(obj, f))


def save(learn, path: str | os.PathLike) -> Path:
    """Write ``learn`` to ``path`` atomically."""
    return atomic_torch_save(to_dict(learn), path)


def read(path: str | os.PathLike) -> dict:
    """Read a checkpoint dict, refusing pickled code and files that are not nbtrainer checkpoints."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint '{path}' does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch's message advises weights_only=False, the unsafe way: not shown
        raise ValueError(f"'{path}' cannot be loaded safely: torch.load with weights_only=True refused it "
                         f"({type(e).__name__}: it holds pickled code, or it is no torch file); expected a "
                         f"model.safetensors or a checkpoint.pt that nbtrainer wrote") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"'{path}' is not an nbtrainer checkpoint (expected format {FORMAT!r})")
    return upgraded(ckpt)


def load(learn, path: str | os.PathLike) -> dict:
    """Restore model, optimizer, freezing, size and history; the learner is untouched if anything mismatches.
    Returns the checkpoint dict (for callers that stored more in it)."""
    ckpt = read(path)
    apply(learn, ckpt, path)
    return ckpt


def upgraded(ckpt: dict) -> dict:
    """``ckpt`` with the data's state as one part, ``data`` (nbtrainer 0.1 kept ``size``, ``augment`` and
    ``aug`` at the top; the oldest lack ``augment`` and ``aug``)."""
    if "data" in ckpt or "size" not in ckpt:
        return ckpt
    old = {k: ckpt[k] for k in ("size", "augment", "aug") if k in ckpt}
    rest = {k: v for k, v in ckpt.items() if k not in old}
    return {**rest, "data": {"augment": False, "aug": Augment().to_dict(), **old}}


def apply(learn, ckpt: dict, path: str | os.PathLike = "<dict>") -> None:
    """Put a checkpoint dict read by :func:`read` into ``learn`` (see :func:`load`)."""
    arch, classes = ckpt["config"].get("arch"), ckpt["classes"]
    if arch != learn.config["arch"] or ckpt["layer_groups"] != learn.group_names:
        raise ValueError(f"checkpoint '{path}' is for {arch} with groups {ckpt['layer_groups']}; this learner is "
                         f"{learn.config['arch']} with groups {learn.group_names}")
    opt = ckpt["config"].get("opt", "sgd")  # checkpoints older than the opt setting were SGD
    if opt != learn.config["opt"]:
        raise ValueError(f"checkpoint '{path}' holds the state of a {opt!r} optimizer; this learner uses "
                         f"{learn.config['opt']!r}: make it with Learner(..., opt={opt!r})")
    if len(classes) != learn.data.c:
        raise ValueError(f"checkpoint '{path}' has {len(classes)} classes {classes}; the data has "
                         f"{learn.data.c} {learn.data.classes}")
    before = learner_state.take(learn, (*learner_state.CHECKPOINT, "snapshots"))
    try:
        parts = {k: v for k, v in ckpt.items() if k in learner_state.PARTS}  # not the metadata
        # a checkpoint holds no ensemble: the old cycle ends were another model's
        learn.load_state_dict({"grad_scaler": {}, "snapshots": [], **parts})
    except (RuntimeError, ValueError, KeyError) as e:
        learn.load_state_dict(before)
        raise ValueError(f"checkpoint '{path}' does not fit this model: {e}") from e
