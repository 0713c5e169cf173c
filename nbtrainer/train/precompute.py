"""Precomputed activations: run the frozen body once, then train and evaluate the head on the cache.

With the body frozen and no augmentation, every epoch feeds the same images through the same
body, so its pooled output (``model.features``) can be computed once and reused; an epoch of the head
then costs a few milliseconds instead of a pass through the body (fast.ai 0.7's ``precompute=True``).

The cache key is a BLAKE2 hash of the body weights (and input normalization), the architecture,
the data (image bytes of in-memory sources; path, byte size and mtime of every file of folder
sources; the train/valid split and labels) and the transform (image size, pipeline): change any
of them and the activations are computed again. Activations up to ``memory_limit`` bytes stay in
memory; larger ones are streamed batch by batch into memory-mapped files (``torch.from_file``), then go to
``folder`` (default ``$NBTRAINER_CACHE`` or ``~/.cache/nbtrainer/activations``) as ``<key>.pt`` written
atomically (temporary file + ``os.replace``), read back memory-mapped; the oldest files are removed to
keep the folder under ``disk_limit`` bytes.

Example::

    learn.precompute = True          # builds (or finds) the cache of the current size and data
    learn.fit(1e-2, n_cycle=2)       # the head trains on cached activations
    learn.precompute = False         # back to images (augmentation, unfreezing)
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from .. import distributed
from ..checks import is_int
from ..data.sources import ArraySource, FolderSource
from ..data.sharding import ShardedBatchSampler
from .checkpoint import atomic_torch_save
from .learner_state import restoring

MiB = 2 ** 20


@dataclass
class Activations:
    """Pooled body outputs ``(N, features)`` and labels of the train and valid sets, under one ``key``."""

    key: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    valid_x: torch.Tensor
    valid_y: torch.Tensor

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.train_x, self.train_y, self.valid_x, self.valid_y))

    def train_loader(self, bs: int, generator: torch.Generator) -> DataLoader:
        """Shuffled like :meth:`ImageData.train_dl` (same batches, generator and ``drop_last``; this process's
        part of each global batch under torch.distributed)."""
        dataset = TensorDataset(self.train_x, self.train_y)
        # Whole batches by one tensor index (TensorDataset takes a list of indices) instead of bs items
        # collated one by one: same sampler and generator draws as ``shuffle=True, batch_size=bs``.
        batches = ShardedBatchSampler(len(dataset), bs, generator, drop_last=len(dataset) > bs)
        return DataLoader(dataset, sampler=batches, batch_size=None, generator=generator)

    def valid_batches(self, bs: int, part: slice = slice(None)):
        """Validation rows in order, ``bs`` at a time (``part``: a contiguous share of them)."""
        x, y = self.valid_x[part], self.valid_y[part]
        for i in range(0, len(y), bs):
            yield x[i:i + bs], y[i:i + bs]


def _hash_tensor(h, t: torch.Tensor) -> None:
    t = t.detach().to("cpu").contiguous().reshape(-1)
    h.update(str((t.dtype, tuple(t.shape))).encode())
    h.update(memoryview(t.view(torch.uint8).numpy()) if t.numel() else b"")


def _hash_split(h, split) -> None:
    source = split.source
    h.update(repr((type(source).__name__, split.indices, source.classes, source.targets)).encode())
    if isinstance(source, ArraySource):
        _hash_tensor(h, source.images)
    elif isinstance(source, FolderSource):
        for i in split.indices:
            stat = os.stat(source.path(i))
            h.update(f"{source.path(i)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    else:
        raise TypeError(f"cannot fingerprint a {type(source).__name__} source for the activation cache")


def cache_key(learn) -> str:
    """Hash of the body weights, architecture, data and transform: what the cached activations depend on."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in learn.model.state_dict().items():
        if not name.startswith("head."):
            h.update(name.encode())
            _hash_tensor(h, t)
    data = learn.data
    h.update(repr((learn.config["arch"], data.size, repr(data.transform(augment=False)))).encode())
    _hash_split(h, data.train)
    _hash_split(h, data.valid)
    return h.hexdigest()


Store = Callable[[str, int, int], torch.Tensor]  # (name, rows, width) -> a float32 tensor to fill


def _in_memory(name: str, rows: int, width: int) -> torch.Tensor:
    return torch.empty(rows, width)


@torch.inference_mode()
def _features(learn, loader, name: str, store: Store) -> tuple[torch.Tensor, torch.Tensor]:
    """The pooled body outputs of ``loader``, written batch by batch into ``store(name, rows, width)``."""
    out = store(name, len(loader.dataset), learn.model.head[0].num_features)
    ys, rows = [], [0]

    def one_batch(batch) -> None:
        xb, yb = batch
        feats = learn.on_images(xb.to(learn.device, non_blocking=True), learn.model.features).float().cpu()
        out[rows[0]:rows[0] + len(feats)] = feats
        rows[0] += len(feats)
        ys.append(yb)

    skipped = learn.inference_batches(loader, one_batch)
    if skipped:  # the cache must hold every image: training on it would pair features with the wrong labels
        raise RuntimeError(f"a callback skipped {skipped} batch{'es' if skipped > 1 else ''} of precompute "
                           f"(CancelBatchException): the cache would lack their images; nothing is kept")
    return out, torch.cat(ys)


def compute_activations(learn, key: str, store: Store = _in_memory) -> Activations:
    """One pass of the (frozen, eval-mode) body over train and valid images, without augmentation; the
    features go into tensors made by ``store`` (memory by default; :class:`ActivationCache` gives
    file-backed ones for large caches, so only one batch is in memory at a time)."""
    data = learn.data
    train, valid = _body_pass(learn, {"train_x": data.train_dl(shuffle=False, augment=False),
                                      "valid_x": data.valid_dl(augment=False)}, store)
    return Activations(key, *train, *valid)


def split_features(learn, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The pooled body outputs and targets of one split (``"test"``: the linear probe scores the test set with
    them), in memory, not cached."""
    return _body_pass(learn, {f"{split}_x": learn.data.valid_dl(split=split)}, _in_memory)[0]


def _body_pass(learn, loaders: dict, store: Store) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """:func:`_features` of each loader (by the name ``store`` gets), in one announced precompute pass, the
    model in eval mode and every module's mode put back afterwards."""
    with restoring(learn, ("modes",)):
        learn.model.eval()
        return learn.inference_pass("precompute", sum(len(dl) for dl in loaders.values()), lambda: [
            _features(learn, dl, name, store) for name, dl in loaders.items()])


def default_folder() -> Path:
    return Path(os.environ.get("NBTRAINER_CACHE") or Path.home() / ".cache" / "nbtrainer" / "activations")


class ActivationCache:
    """Activations by key: in memory up to ``memory_limit`` bytes, else on disk in ``folder``.

    Args:
        folder: where large caches go. Default: ``$NBTRAINER_CACHE`` or ``~/.cache/nbtrainer/activations``.
        memory_limit: bytes of activations kept in memory. Default: 512 MiB.
        disk_limit: bytes the folder may hold; the oldest caches are deleted beyond it. Default: 8 GiB.
    """

    def __init__(self, folder: str | os.PathLike | None = None, memory_limit: int = 512 * MiB,
                 disk_limit: int = 8192 * MiB):
        for name, value in (("memory_limit", memory_limit), ("disk_limit", disk_limit)):
            if not is_int(value, 0):
                raise ValueError(f"{name}={value!r}: expected a number of bytes >= 0")
        self.folder = Path(folder) if folder is not None else default_folder()
        self.memory_limit, self.disk_limit = memory_limit, disk_limit
        self._memory: dict[str, Activations] = {}

    def get(self, learn) -> Activations:
        """The activations for the learner's current body, data and size: from memory, disk, or computed."""
        key = cache_key(learn)
        if key in self._memory:
            return self._memory[key]
        path = self.folder / f"{key}.pt"
        if distributed.current().enabled:
            return self._shared(learn, key, path)
        if not path.exists() and self._needs_disk(learn):
            self._compute_to_disk(learn, key, path)
        if path.exists():
            return self._read(key, path)
        acts = compute_activations(learn, key)
        if acts.nbytes <= self.memory_limit:
            self._memory = {key: acts}  # the latest only: older keys are stale for this learner
        else:
            self._write(path, acts)
        return acts

    def _shared(self, learn, key: str, path: Path) -> Activations:
        """Under torch.distributed: rank 0 computes the activations into ``<key>.pt`` (streamed as for a
        large cache); every rank then reads that file memory-mapped (see :mod:`nbtrainer.distributed`)."""
        def build_once() -> None:
            if not path.exists():
                self._compute_to_disk(learn, key, path)

        distributed.on_main(build_once, f"precompute into '{path}'")
        acts = self._read(key, path)
        self._memory = {key: acts}  # memory-mapped: the pages stay in the page cache, shared by the ranks
        return acts

    @staticmethod
    def _read(key: str, path: Path) -> Activations:
        """A cache file, memory-mapped (its pages are read when used)."""
        return Activations(key, **torch.load(path, weights_only=True, mmap=True))

    def _compute_to_disk(self, learn, key: str, path: Path) -> None:
        """Stream the pass into file-backed (memory-mapped) tensors in a scratch folder, then write
        ``<key>.pt`` atomically: a cache larger than memory never is in it. A folder that cannot be
        written fails here, before the pass."""
        self._check_writable()
        scratch = Path(tempfile.mkdtemp(dir=self.folder, prefix=f".{key[:16]}-"))

        def file_backed(name: str, rows: int, width: int) -> torch.Tensor:
            return torch.from_file(str(scratch / f"{name}.f32"), shared=True, size=rows * width,
                                   dtype=torch.float32).view(rows, width)

        try:
            self._write(path, compute_activations(learn, key, file_backed))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _needs_disk(self, learn) -> bool:
        """Estimate the size before computing, so a bad folder fails before the long pass."""
        n = len(learn.data.train) + len(learn.data.valid)
        width = learn.model.head[0].num_features  # the head's first BatchNorm takes the pooled features
        return n * width * 4 > self.memory_limit

    def _check_writable(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.folder, prefix=".write-test-")
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise PermissionError(f"activation cache folder '{self.folder}' is not writable ({e.strerror}); "
                                  "expected a writable folder: pass ActivationCache(folder=...) or raise "
                                  "memory_limit") from e

    def _write(self, path: Path, acts: Activations) -> None:
        if acts.nbytes > self.disk_limit:
            raise ValueError(f"the activations need {acts.nbytes / MiB:.0f} MiB, more than disk_limit="
                             f"{self.disk_limit} bytes; expected a larger disk_limit")
        self._evict(self.disk_limit - acts.nbytes)
        atomic_torch_save({"train_x": acts.train_x, "train_y": acts.train_y, "valid_x": acts.valid_x,
                           "valid_y": acts.valid_y}, path)

    def _evict(self, keep_bytes: int) -> None:
        files = sorted(self.folder.glob("*.pt"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        for p in files:
            if total <= keep_bytes:
                break
            total -= p.stat().st_size
            p.unlink(missing_ok=True)
