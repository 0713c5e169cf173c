"""The CPU's fast paths: float32 vs ``amp="bf16"`` vs channels_last vs ``torch.compile``, each with its accuracy.

Two measures, on the embedded digits (EfficientNet-Lite0, real ImageNet weights, bs 64):

- ``epoch``: one unfrozen epoch (train + validate) at 64 and 128 px from the same pretrained start (seed 0);
  a first epoch (untimed for the median; for ``torch.compile`` it includes the compilation, printed apart),
  then the median of ``repeats`` epochs, each restored to the same start; the validation accuracy after one
  epoch beside it.
- ``recipe``: the whole checklist as ``nbtrainer run --size S --final-size 0`` does it (CLI defaults), for 3
  seeds, with each path's flags: wall seconds, plain and TTA accuracy.

Each path runs alone (never two torch processes at once: on 2 cores they slow each other ~10x).

Run: ``python benchmarks/bench_cpu_paths.py epoch`` then ``python benchmarks/bench_cpu_paths.py recipe
--paths "fp32 + channels_last" "bf16 + channels_last" --sizes 64 128``; results are appended to
``bench_cpu_paths.jsonl`` as they come and summarised by ``python benchmarks/bench_cpu_paths.py table``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from nbtrainer import ImageData, Learner
from nbtrainer.cli import build_parser, build_run
from nbtrainer.train.learner_state import restore, take

# name -> (Learner keyword arguments, nbtrainer run flags). "compile": nn.Module.compile() on the model
# (in place, so state-dict keys and the optimizer's parameters stay the same).
PATHS = {
    "fp32": ({"amp": None, "channels_last": False}, ["--no-channels-last"]),
    "fp32 + channels_last": ({"amp": None, "channels_last": True}, []),
    "bf16": ({"amp": "bf16", "channels_last": False}, ["--amp", "bf16", "--no-channels-last"]),
    "bf16 + channels_last": ({"amp": "bf16", "channels_last": True}, ["--amp", "bf16"]),
    "compile + channels_last": ({"amp": None, "channels_last": True, "compile": True}, None),
}
LR = 1e-3
OUT = Path(__file__).with_name("bench_cpu_paths.jsonl")


def _save(result: dict) -> None:
    result["machine"] = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                         "cpu": torch.backends.cpu.get_cpu_capability()}
    with OUT.open("a") as f:
        f.write(json.dumps(result) + "\n")
    print(json.dumps(result), flush=True)


def epoch(path: str, size: int, repeats: int = 2) -> dict:
    """One unfrozen epoch with ``path``'s settings: first epoch, median of ``repeats`` more, accuracy."""
    kwargs = dict(PATHS[path][0])
    compile_model = kwargs.pop("compile", False)
    learn = Learner(ImageData.demo(size=size, bs=64), seed=0, **kwargs)
    learn.unfreeze()
    if compile_model:
        learn.model.compile()
    start = take(learn)

    def one() -> float:
        restore(learn, start)
        t = time.perf_counter()
        learn.fit(LR)
        return time.perf_counter() - t

    first = one()
    times = [one() for _ in range(repeats)]
    return {"kind": "epoch", "path": path, "size": size, "first": first, "seconds": statistics.median(times),
            "times": times, "accuracy": learn.validate()[1]}


def recipe(path: str, size: int, seed: int, limit: int | None = None) -> dict:
    flags = PATHS[path][1] + (["--limit", str(limit)] if limit else [])
    args = build_parser().parse_args(["run", "--size", str(size), "--final-size", "0", "--seed", str(seed),
                                      "--no-progress", *flags])
    start = time.perf_counter()
    _, learn, steps = build_run(args)
    steps.run()
    tta = steps.steps[-1].result
    return {"kind": "recipe", "path": path, "size": size, "seed": seed, "images": len(learn.data.train) + len(learn.data.valid),
            "seconds": time.perf_counter() - start,
            "accuracy": tta["plain_accuracy"], "tta": tta["accuracy"]}


def table(rows: list[dict]) -> str:
    """Markdown tables: epochs (seconds, ratio to float32 + channels_last, accuracy) and recipes (means)."""
    lines = ["| unfrozen epoch | size | first epoch | epoch (median) | vs fp32 + channels_last | accuracy after 1 epoch |",
             "|---|---|---|---|---|---|"]
    epochs = list({(r["path"], r["size"]): r for r in rows if r["kind"] == "epoch"}.values())  # the last of each
    base = {r["size"]: r["seconds"] for r in epochs if r["path"] == "fp32 + channels_last"}
    for r in epochs:
        ratio = f"{r['seconds'] / base[r['size']]:.2f}x" if r["size"] in base else "-"
        lines.append(f"| {r['path']} | {r['size']} px | {r['first']:.1f} s | {r['seconds']:.1f} s | {ratio} | "
                     f"{100 * r['accuracy']:.2f}% |")
    lines += ["", "| recipe | size | images | seconds (mean) | accuracy (mean ± std) | TTA (mean ± std) | seeds |",
              "|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["kind"] == "recipe":
            groups.setdefault((r["path"], r["size"], r.get("images")), []).append(r)
    for (path, size, images), rs in groups.items():
        def ms(key: str) -> str:
            v = [100 * r[key] for r in rs]
            return f"{statistics.mean(v):.2f} ± {statistics.stdev(v) if len(v) > 1 else 0:.2f}%"
        lines.append(f"| {path} | {size} px | {images} | {statistics.mean(r['seconds'] for r in rs):.0f} s | {ms('accuracy')} | "
                     f"{ms('tta')} | {len(rs)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("epoch", "recipe", "table"))
    parser.add_argument("--paths", nargs="+", default=list(PATHS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--limit", type=int, help="recipe: only the first N digits (nbtrainer run --limit)")
    args = parser.parse_args()
    if args.kind == "table":
        print(table([json.loads(line) for line in OUT.read_text().splitlines()]))
        return
    for size in args.sizes:
        for path in args.paths:
            if args.kind == "epoch":
                _save(epoch(path, size))
            elif PATHS[path][1] is not None:
                for seed in args.seeds:
                    _save(recipe(path, size, seed, args.limit))


if __name__ == "__main__":
    main()
