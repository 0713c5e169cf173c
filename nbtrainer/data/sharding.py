"""The data's side of several processes (:mod:`nbtrainer.distributed`): each rank's part of the global
batches and of the validation set, and seeds of its own for its loader workers.

Example::

    sampler = ShardedBatchSampler(len(dataset), 64, torch.Generator().manual_seed(0), drop_last=True)
    part = shard(len(valid))          # this rank's contiguous part (all of it in one process)
"""
from __future__ import annotations

import functools

import torch
from torch.utils.data import BatchSampler, RandomSampler, Sampler

from ..distributed import RANK_SEED_STRIDE, Ranks, current


def _seed_worker(rank: int, worker_id: int) -> None:
    torch.manual_seed((torch.initial_seed() + RANK_SEED_STRIDE * rank) % 2 ** 63)


def worker_init_fn():
    """For ``DataLoader(worker_init_fn=...)``: torch seeds worker ``i`` with ``base_seed + i``, and the base
    seed comes from the data's generator, which the ranks share (so that they agree on the shuffle); this
    moves each rank's workers to seeds of their own, so the ranks draw different augmentations (as
    Lightning's worker seeding does). None in a single process."""
    ranks = current()
    return functools.partial(_seed_worker, ranks.rank) if ranks.enabled else None


def shard(n: int) -> slice:
    """This rank's contiguous part of ``n`` items (all of them in a single process)."""
    ranks = current()
    return slice(n * ranks.rank // ranks.world_size, n * (ranks.rank + 1) // ranks.world_size)


def check_global_batch(bs: int, n: int, ranks: Ranks | None = None) -> None:
    """With several ranks, ``bs`` (the global batch) must divide among them and fit in the ``n`` images."""
    world = (ranks or current()).world_size
    if world > 1 and bs % world:
        raise ValueError(f"bs={bs} is the global batch and must divide among the {world} processes "
                         f"(torchrun --nproc_per_node {world}); expected a multiple of {world}")
    if world > 1 and n < bs:
        raise ValueError(f"{n} training images are fewer than one global batch (bs={bs}) for "
                         f"{world} processes; expected bs <= {n}")


class ShardedBatchSampler(Sampler[list[int]]):
    """Shuffled global batches of ``batch_size`` indices out of ``range(n)``; rank ``r`` of ``world_size``
    yields part ``r`` of each (``batch_size / world_size`` indices).

    The global batches are ``BatchSampler(RandomSampler(range(n), generator=generator), batch_size,
    drop_last)``, so with one process this is exactly ``DataLoader(shuffle=True, batch_size=batch_size)``'s
    batches, and with ``N`` the union of the ranks' parts of step ``k`` is that same batch. The cutting is
    written here because ``DistributedSampler`` interleaves ranks within one per-rank epoch permutation, which
    matches no single-process batch order.

    Args:
        n: dataset size.
        batch_size: the global batch.
        generator: drawn from alike on every rank (same seed), so the ranks agree on the shuffle.
        drop_last: drop the last partial global batch (always, with several ranks).
        ranks: this process's place. Default: :func:`current`.

    Example::

        sampler = ShardedBatchSampler(len(dataset), 64, torch.Generator().manual_seed(0), drop_last=True)
        loader = DataLoader(dataset, batch_sampler=sampler)
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, drop_last: bool,
                 ranks: Ranks | None = None):
        self.ranks = ranks or current()
        world = self.ranks.world_size
        check_global_batch(batch_size, n, self.ranks)
        self.batches = BatchSampler(RandomSampler(range(n), generator=generator), batch_size,
                                    drop_last or world > 1)
        self.part = batch_size // world

    def __iter__(self):
        start = self.ranks.rank * self.part
        for batch in self.batches:
            yield batch[start:start + self.part] if self.ranks.enabled else batch

    def __len__(self) -> int:
        return len(self.batches)
