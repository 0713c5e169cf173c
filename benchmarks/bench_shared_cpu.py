"""Many students, one server: N copies of ``nbtrainer run --limit 400 --unfrozen-cycles 1`` started at once,
against the same N runs one after another (the peer), with nbtrainer's CPU queue on (the default) and off.

Goal: N at once within 1.3x of one after another, for N = 2 and 4. Each row is measured in this one run,
nothing else running. Run: ``python benchmarks/bench_shared_cpu.py`` (about 12 minutes on 2 cores; the queue-off
rows are the slow ones: ``python -c "import bench_shared_cpu as b, common; common.print_table(b.run(queue_modes=
(True,)))"`` from ``benchmarks/`` skips them).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from common import print_table, row

COMMAND = [sys.executable, "-m", "nbtrainer", "run", "--limit", "400", "--unfrozen-cycles", "1", "--no-progress"]


def runs(n: int, at_once: bool, queue: bool, scratch: str) -> float:
    """Wall seconds of ``n`` runs, started together or one after another."""
    env = {**os.environ, "NBTRAINER_CPU_QUEUE": "1" if queue else "0", "NBTRAINER_CACHE": scratch + "/cache"}
    start = time.perf_counter()
    if at_once:
        procs = [subprocess.Popen([*COMMAND, "--out", f"{scratch}/o{i}"], env=env, stdout=subprocess.DEVNULL)
                 for i in range(n)]
        codes = [p.wait() for p in procs]
    else:
        codes = [subprocess.run([*COMMAND, "--out", f"{scratch}/o{i}"], env=env, stdout=subprocess.DEVNULL).returncode
                 for i in range(n)]
    assert codes == [0] * n, codes
    return time.perf_counter() - start


def run(counts=(2, 4), queue_modes=(True, False)) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        runs(1, False, True, scratch)  # warm the caches (files, the image checks), untimed
        for n in counts:
            sequential = runs(n, False, True, scratch)
            for queue in queue_modes:
                together = runs(n, True, queue, scratch)
                rows.append(row(f"{n} runs at once, CPU queue {'on' if queue else 'off'}", together, sequential,
                                f"the {n} runs one after another", "<= 1.3x" if queue else "(no queue)"))
                print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    print_table(run())
