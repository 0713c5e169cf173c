"""A short recipe that tests/test_distributed.py runs twice: under torchrun (2 gloo processes) and alone.

Usage: ``python tests/ddp_recipe.py OUT CACHE`` or ``torchrun --standalone --nproc_per_node 2 tests/ddp_recipe.py
OUT CACHE``. Each rank writes what it saw to OUT/rank-<r>.json and OUT/tensors-<r>.pt; the learner itself
is asked to save OUT/checkpoint-rank<r>.pt on every rank (only rank 0 may write it).

Settings: the global batch is 64 (32 a process); dropout is off (``ps=(0, 0)``) because each process draws its
own masks, which no single process reproduces.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

import nbtrainer as nbt
from nbtrainer import distributed
from nbtrainer.train.callbacks import Callback, CancelFitException
from nbtrainer.train.learner_state import restoring

LR = 1e-2


class StopAfterFirstBatch(Callback):
    def after_batch(self) -> None:
        if self.learner.training:
            raise CancelFitException()


def flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def one_step(learn: nbt.Learner, ranks: distributed.Ranks) -> torch.Tensor:
    """The head's parameters after one step at ``LR`` on the first global batch of cached activations.

    With 2 ranks: a real DDP fit stopped after its first batch. Alone: that step by hand, the mean of the
    losses of the batch's two halves, each through the head on its own (its BatchNorm sees its half only),
    which is what 2 ranks compute."""
    with restoring(learn):
        if ranks.enabled:
            learn.fit(LR, callbacks=[StopAfterFirstBatch()])
            assert learn.state.batch_lrs == [LR] * 3
        else:
            xb, yb = next(iter(learn.train_loader()))
            for group in learn.opt.param_groups:
                group["lr"] = LR
            learn.model.head.train()
            learn.opt.zero_grad()
            halves = zip(xb.chunk(2), yb.chunk(2))
            loss = sum(learn.loss_fn(learn.model.head(x), y) for x, y in halves) / 2
            loss.backward()
            learn.opt.step()
        return flat(learn.model.head)


def bad_cache_error(learn: nbt.Learner, not_a_folder: Path) -> str:
    """precompute into a path that is a file: the error every rank gets (rank 0 fails, the others hear it)."""
    learn.cache, good = nbt.ActivationCache(not_a_folder, memory_limit=0), learn.cache
    try:
        learn.precompute = True
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    finally:
        learn.cache = good
    return ""


def augmented_views(workers: int) -> list[float]:
    """The first augmented view of one image, repeated to fill the set, drawn by ``workers`` loader processes
    (0: this process): the ranks see the same image, so different views mean rank-specific random draws."""
    images = np.full((70, 8, 8), 128, dtype=np.uint8)
    images[:, 2:6, 3:5] = 255
    data = nbt.ImageData.from_arrays(images, [0, 1] * 35, size=32, bs=32, augment=True)
    data.num_workers = workers
    xb, _ = next(iter(data.train_dl()))
    return xb[0].flatten()[::97].tolist()


def main(out: Path, cache: Path) -> None:
    ranks = distributed.init_from_env("cpu")
    out.mkdir(parents=True, exist_ok=True)
    (out / "a-file").write_text("not a folder")
    data = nbt.ImageData.demo(size=32, bs=64, n=800)
    # SGD: its step is linear in the gradient, so one process and two ranks (whose BatchNorms see half the
    # batch each) stay close; Adam divides by the gradient's magnitude and turns tiny differences into whole steps
    learn = nbt.Learner(data, device="cpu", ps=(0.0, 0.0), bn_freeze=True, opt="sgd", cache=nbt.ActivationCache(cache))
    error = bad_cache_error(learn, out / "a-file")
    precompute_after_error = learn.precompute
    learn.precompute = True
    step = one_step(learn, ranks)
    learn.fit(LR, n_cycle=2)
    head_valid = learn.validate()
    learn.precompute = False
    learn.unfreeze()
    learn.fit([1e-4, 3e-4, 1e-3], 1)
    sweep = learn.lr_find(start_lr=[1e-7 / 9, 1e-7 / 3, 1e-7], num_iter=12)
    valid = learn.validate()
    learn.save(out / f"checkpoint-rank{ranks.rank}.pt")
    buffers = torch.cat([b.double().flatten() for b in learn.model.buffers()])  # BatchNorm statistics too
    torch.save({"one_step": step, "weights": flat(learn.model), "buffers": buffers}, out / f"tensors-{ranks.rank}.pt")
    seen = {"world_size": ranks.world_size, "error": error, "augmented": [augmented_views(0), augmented_views(1)], "precompute_after_error": precompute_after_error,
            "losses": [row["loss"] for row in learn.recorder.iterations],
            "head_valid": head_valid, "valid": valid, "sweep": sweep.smoothed, "suggestion": sweep.suggestion,
            "stop_reason": sweep.stop_reason}
    (out / f"rank-{ranks.rank}.json").write_text(json.dumps(seen))
    distributed.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
