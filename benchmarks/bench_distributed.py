"""A training epoch (whole network, embedded digits at 64 px, global batch 64) in one process against
``torchrun --nproc_per_node 2`` (DistributedDataParallel over gloo) on the same machine: training images a
second, measured in the same run. On a CPU both sides share the same cores (one process with all threads,
or two with one thread each), so this measures DDP's overhead, not a speed-up; on several GPUs each rank
brings its own device.

Run: ``python benchmarks/bench_distributed.py``
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from nbtrainer.data.splits import usable_cpus

try:
    from .common import last_json_line, print_table, row
except ImportError:  # run as a script
    from common import last_json_line, print_table, row

EPOCHS = 3  # timed after one warm-up epoch


def worker() -> None:
    """One rank (or the only process): a warm-up epoch, then ``EPOCHS`` timed ones; rank 0 prints JSON."""
    import torch

    from nbtrainer import ImageData, Learner
    from nbtrainer import distributed

    ranks = distributed.init_from_env("cpu")
    learn = Learner(ImageData.demo(size=64, bs=64), seed=0, device="cpu", opt="sgd")  # as first measured
    learn.unfreeze()
    learn.fit(1e-3)
    start = time.perf_counter()
    learn.fit(1e-3, n_cycle=EPOCHS)
    seconds = time.perf_counter() - start
    images = EPOCHS * learn.data.train_batches * learn.data.bs
    if ranks.is_main:
        print(json.dumps({"processes": ranks.world_size, "threads": torch.get_num_threads(), "seconds": seconds,
                          "images_per_second": images / seconds,
                          "valid_accuracy": learn.recorder.epochs[-1]["accuracy"]}))
    distributed.shutdown()


def run() -> list[dict]:
    me = str(Path(__file__).resolve())
    single = last_json_line([sys.executable, me, "--worker"])
    ddp = last_json_line([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                   me, "--worker"])
    cores = usable_cpus()
    print(f"on {cores} CPUs: 1 process x {single['threads']} threads: {single['images_per_second']:.1f} images/s "
          f"(accuracy {single['valid_accuracy']:.2%}); 2 DDP processes x {ddp['threads']} thread(s): "
          f"{ddp['images_per_second']:.1f} images/s (accuracy {ddp['valid_accuracy']:.2%})")
    return [row("fit epoch, 2 DDP ranks (gloo) vs 1 process (64px)", ddp["seconds"] / EPOCHS,
                single["seconds"] / EPOCHS, "the same epochs, 1 process", "(CPU: same cores)")]


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker()
    else:
        print_table(run())
