"""Every benchmark of nbtrainer, one table: ``python benchmarks/run.py`` (after ``pip install -e ".[bench]"``).

Each line is a ratio measured in one run on this machine (median of 3 repeats), nbtrainer against the
peer named on the line, then the accuracy comparison (3 seeds); see ``benchmarks/README.md`` for the last
table and the machine.
"""
from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

import bench_accuracy  # noqa: E402
import bench_distributed  # noqa: E402
import bench_fit  # noqa: E402
import bench_lr_find  # noqa: E402
import bench_precompute  # noqa: E402
import bench_quality  # noqa: E402
import bench_widget  # noqa: E402
from common import print_table  # noqa: E402


def main() -> None:
    start = time.perf_counter()
    rows = (bench_fit.run() + bench_lr_find.run() + bench_precompute.run() + bench_widget.run()
            + bench_distributed.run())
    accuracy = bench_accuracy.run() + [""] + bench_quality.run()
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, cuda={torch.cuda.is_available()}")
    print_table(rows)
    print()
    print("\n".join(accuracy))
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
