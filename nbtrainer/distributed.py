"""Several processes, one model: ``torchrun --nproc_per_node N -m nbtrainer run ...`` trains with PyTorch's
``DistributedDataParallel``. Nothing here runs, and nothing changes, in a single process.

What each part of the recipe does with ``N`` processes (ranks):

- **Start**: torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address;
  :func:`init_from_env` joins the process group, with ``nccl`` on CUDA (process ``i`` of a machine on GPU
  ``LOCAL_RANK``) and ``gloo`` on the CPU. Every rank builds the same :class:`~nbtrainer.Learner` (the same
  seed gives the same weights; DDP also copies rank 0's weights to the others when a fit starts).
- **Training batches**: ``bs`` is the *global* batch. One shuffle, drawn alike on every rank from the data's
  generator, is cut into global batches of ``bs``; rank ``r`` takes part ``r`` of each
  (:class:`nbtrainer.data.sharding.ShardedBatchSampler`). Step ``k`` of ``N`` ranks therefore sees exactly the images of step ``k`` of
  one process with batch ``bs``. ``bs`` must divide by ``N``; the last partial batch is dropped.
- **Gradients** are averaged by ``DistributedDataParallel`` (built when a fit or an LR range test starts,
  around the whole model or, with precompute, the head: :mod:`nbtrainer.train.parallel`). The **loss** of every batch is averaged across ranks,
  so the recorder, the divergence guard and ``lr_find``'s stop rule see the same number on every rank.
- **Validation, TTA, interpretation**: each rank predicts a contiguous part of the validation set; the
  predictions are gathered, so every rank computes the metrics on the whole set (:func:`gather`).
- **lr_find**: every rank sweeps on its part of each batch with DDP; the averaged loss makes the curve, the
  early stop and the suggestion identical on all ranks, and each rank restores its own (identical) copy of its state.
- **precompute**: rank 0 builds the activation cache and writes it to the cache folder; the others wait and
  then read that file memory-mapped (:func:`on_main`). Chosen over "each rank caches its shard" because the
  head's training shuffles the whole set every epoch, so every rank needs every row; the pass is one
  inference pass, short next to training. The cache folder must be one the ranks share (always true on one
  machine; on several machines pass ``--cache-dir`` on a shared file system).
- **Writing**: only rank 0 writes checkpoints (:meth:`Learner.save` returns at once elsewhere), the report,
  and prints progress.
- **Randomness**: after the model is built, each rank's torch RNG and loader workers get seeds of their
  own (:func:`seed_rank`, :func:`nbtrainer.data.sharding.worker_init_fn`), so dropout masks and augmentations differ across ranks;
  the shuffle comes from the data's generator, the same on every rank.
- **BatchNorm**: each rank normalises with its own part of the batch (``bs / N`` images), as DDP and
  PyTorch Lightning do by default; ``SyncBatchNorm`` runs on GPUs only. With dropout, each rank draws its own
  masks. These are why ``N`` ranks match one process within a tolerance, not bit for bit.

Example::

    torchrun --standalone --nproc_per_node 2 -m nbtrainer run --bs 64      # 2 processes x 32 images a step
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    """This process's place: ``rank`` of ``world_size``."""

    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        """True with more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes and prints."""
        return self.rank == 0


def current() -> Ranks:
    """The process group this process is in, or ``Ranks()`` (rank 0 of 1) outside torch.distributed."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    return Ranks(dist.get_rank(), dist.get_world_size())


def launched_by_torchrun() -> bool:
    """torchrun (or another launcher) set ``WORLD_SIZE`` above 1 for this process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str | None = "auto") -> Ranks:
    """Join the process group torchrun described in the environment (nothing when not launched by it).

    ``nccl`` when the run uses CUDA (this process then works on GPU ``LOCAL_RANK``), ``gloo`` on the CPU.
    """
    if not launched_by_torchrun() or dist.is_initialized():
        return current()
    use_cuda = torch.cuda.is_available() and not str(device).startswith("cpu")
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return current()


def shutdown() -> None:
    """Leave the process group (no-op outside one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


RANK_SEED_STRIDE = 1_000_003  # apart from each other: seeds of neighbouring ranks never meet


def seed_rank(seed: int) -> None:
    """Give each rank its own stream of torch's global RNG (dropout masks, augmentation drawn in the main
    process), once the model has been built alike on every rank. Nothing happens in a single process."""
    ranks = current()
    if ranks.enabled:
        torch.manual_seed(seed + RANK_SEED_STRIDE * ranks.rank)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` or ``"auto"``: CUDA when present, else the CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def rank_device(device: torch.device) -> torch.device:
    """``cuda`` without an index means this rank's GPU (``LOCAL_RANK``) under torch.distributed."""
    if device.type == "cuda" and device.index is None and current().enabled:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of a tensor across ranks (a detached copy; the value itself outside torch.distributed)."""
    value = value.detach()
    if not current().enabled:
        return value
    total = value.clone().float()
    dist.all_reduce(total)
    return total / dist.get_world_size()


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's ``tensor`` (CPU), concatenated along dim 0 in rank order, on every rank."""
    ranks = current()
    if not ranks.enabled:
        return tensor
    parts: list = [None] * ranks.world_size
    dist.all_gather_object(parts, tensor.cpu())
    return torch.cat(parts)


def on_main(fn, what: str):
    """Run ``fn()`` on rank 0 only; the other ranks wait for it. An error there is raised on every rank
    (instead of leaving the others waiting forever). Returns ``fn()``'s result on rank 0, None elsewhere."""
    ranks = current()
    if not ranks.enabled:
        return fn()
    result, status = None, [None]
    if ranks.is_main:
        try:
            result = fn()
        except Exception as e:
            status = [f"{type(e).__name__}: {e}"]
            dist.broadcast_object_list(status, src=0)
            raise
    dist.broadcast_object_list(status, src=0)
    if status[0] is not None:
        raise RuntimeError(f"{what} failed on rank 0: {status[0]}")
    return result
