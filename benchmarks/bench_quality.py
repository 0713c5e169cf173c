"""Does the recipe make a better classifier than what a user would do instead? Three real offline data sets
(the embedded digits; ``photos`` and ``textures`` from ``quality_data.py``), 3 seeds each, the same pretrained
EfficientNet-Lite0 body, the same split, the same image size (the one ``nbtrainer run`` plans), side by side:

- ``checklist``: ``nbtrainer run`` with its defaults (``cli.build_run``: the CLI's own code);
- ``fastai fine_tune(4)``: fastai 2.8 ``fine_tune(4)`` with its defaults (Adam, one-cycle, base_lr 2e-3,
  freeze_epochs=1, BatchNorm trained) on nbtrainer's model, augmented loaders and layer groups;
- ``fastai fine_tune, same epochs``: the same with as many epochs on images as the checklist ran (its head
  on the cache aside);
- ``linear probe``: scikit-learn's logistic regression (standardized features, C=1) on the frozen body's
  pooled features;
- ``plain PyTorch``: the whole network at once, AdamW (lr 1e-3, weight decay 0.01), ``OneCycleLR``, the
  data's augmentation, as many epochs as the checklist trained on images (at least 8), the best epoch
  (validation accuracy) kept.

Every side is evaluated alike (``learn.validate`` and ``learn.tta(4)``); times are wall seconds of the
whole method, data loading included (the checklist's: the run, without the snapshot ensembles below). The checklist's line also reports snapshot ensembles of its last
2 and 3 cycle ends (computed after the timed run), the sizes it chose, its epochs, and whether any step
ended below the accuracy it started from.

Run: ``python benchmarks/bench_quality.py [--sets digits photos textures] [--seeds 0 1 2] [--methods ...]
[--checklist-args "--opt sgd ..."] [--checklist-from EARLIER.jsonl]`` (needs the ``bench`` extra); a JSON line per result goes to ``--out``
(default ``bench_quality.jsonl``); the checklist's lines also hold each step's seconds and each LR sweep's
curve (to study the suggestion rules offline).
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import tempfile
import time
from pathlib import Path

import torch

from nbtrainer import ImageData, Learner
from nbtrainer.cli import build_parser, build_run
from nbtrainer.train.evaluation import TTA_N
from nbtrainer.train.metrics import accuracy

try:
    from .peers import fastai_learner, quiet_fastai
    from .quality_data import make_set
except ImportError:  # run as a script
    from peers import fastai_learner, quiet_fastai
    from quality_data import make_set

SETS, SEEDS = ("digits", "photos", "textures"), (0, 1, 2)


def _folder(name: str, seed: int, root: Path) -> str | None:
    return None if name == "digits" else str(make_set(name, seed, root))


def _cli_args(folder: str | None, seed: int, extra: list[str] = ()) -> argparse.Namespace:
    return build_parser().parse_args(["run", *(["--data", folder] if folder else []), "--seed", str(seed),
                                      "--no-progress", *extra])


def _data(folder: str | None, seed: int, size: int, augment: bool) -> ImageData:
    """The same images and split as the checklist's run (its defaults), at ``size``."""
    data = build_run(_cli_args(folder, seed))[0]
    data.set_size(size)
    data.augment = augment
    return data


def _scores(learn: Learner, **extra) -> dict:
    probs, targets = learn.tta(TTA_N)
    return {"accuracy": learn.validate()[1], "tta": accuracy(probs, targets), **extra}


def checklist(folder: str | None, seed: int, extra: list[str] = ()) -> dict:
    start = time.perf_counter()
    _, learn, steps = build_run(_cli_args(folder, seed, extra))
    for step in steps.steps:  # the unfrozen fits keep their last 3 cycle ends for the ensemble lines below;
        if step.params.get("snapshots") is False:  # the recipe's own TTA step still averages what it is set to
            step.params["snapshots"] = 3
    steps.run()
    seconds = time.perf_counter() - start  # the run as `nbtrainer run` does it; the ensembles below are extra
    fits = [s.result for s in steps.steps if s.action == "fit"]
    tta = steps.steps[-1].result
    out = {"accuracy": tta["plain_accuracy"], "tta": tta["accuracy"], "sizes": steps.sizes,
           "epochs": sum(f["epochs"] for f in fits[1:]), "steps": [f["accuracy"] for f in fits],
           "kept": [f["kept"] for f in fits], "seconds": seconds, "step_seconds": [s.result.get("seconds") for s in steps.steps],
           "sweeps": [{k: s.result["curve"][k] for k in ("lrs", "losses", "suggestion")}
                      for s in steps.steps if s.action == "lr_find"]}
    out["worse_step"] = any(b < a for a, b in zip(out["steps"], out["steps"][1:]))
    for k in (2, 3):
        if len(learn.snapshots) >= k:
            probs, targets = learn.get_preds(snapshots=k)
            out[f"ensemble{k}"] = accuracy(probs, targets)
            out[f"ensemble{k}_tta"] = accuracy(*learn.tta(TTA_N, snapshots=k))
    return out


def fastai_fine_tune(folder: str | None, seed: int, size: int, epochs: int = 4) -> dict:
    learn = Learner(_data(folder, seed, size, augment=True), seed=seed)
    flearn = fastai_learner(learn, opt="adam")
    with quiet_fastai(flearn):
        flearn.fine_tune(epochs)
    return _scores(learn, epochs=epochs + 1)


def linear_probe(folder: str | None, seed: int, size: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    learn = Learner(_data(folder, seed, size, augment=False), seed=seed)
    learn.precompute = True  # the frozen body's pooled features of every image, once
    acts = learn._current_activations()
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000))
    probe.fit(acts.train_x.numpy(), acts.train_y.numpy())
    return {"accuracy": float(probe.score(acts.valid_x.numpy(), acts.valid_y.numpy()))}


def plain_pytorch(folder: str | None, seed: int, size: int, epochs: int = 8, lr: float = 1e-3) -> dict:
    learn = Learner(_data(folder, seed, size, augment=True), seed=seed)
    learn.unfreeze()
    model = learn.model
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    dl = learn.data.train_dl()
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * len(dl))
    best, best_state = -1.0, None
    for _ in range(epochs):
        model.train()
        for xb, yb in learn.data.train_dl():
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc = learn.validate()[1]
        if acc > best:
            best, best_state = acc, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return _scores(learn, epochs=epochs)


def earlier_checklists(path: str | None) -> dict[tuple[str, int], dict]:
    """The checklist's results of an earlier run's JSON lines, by (set, seed): the peers can then be run
    without running the checklist again (they take its size and epoch budget)."""
    if not path:
        return {}
    rows = (json.loads(line) for line in Path(path).read_text().splitlines() if line.strip())
    return {(r["set"], r["seed"]): r for r in rows if r["method"].startswith("checklist")}


def run_set(name: str, seeds, methods, root: Path, out, extra: list[str] = (),
            earlier: dict[tuple[str, int], dict] | None = None) -> list[str]:
    results: dict[str, list[dict]] = {}
    for seed in seeds:
        folder = _folder(name, seed, root)
        reused = (earlier or {}).get((name, seed))
        ours = reused or checklist(folder, seed, extra)
        size = ours["sizes"][-1]
        sides = {"checklist (nbtrainer run)": lambda: ours,
                 "fastai fine_tune(4)": lambda: fastai_fine_tune(folder, seed, size),
                 "fastai fine_tune, same epochs": lambda: fastai_fine_tune(folder, seed, size,
                                                                          max(1, ours["epochs"] - 1)),
                 "linear probe (logistic regression)": lambda: linear_probe(folder, seed, size),
                 "plain PyTorch (AdamW, one-cycle, best epoch)": lambda: plain_pytorch(folder, seed, size,
                                                                                      max(8, ours["epochs"]))}
        for method, fn in sides.items():
            if methods and not any(m in method for m in methods) and not method.startswith("checklist"):
                continue
            if reused and method.startswith("checklist"):
                results.setdefault(method, []).append(reused)  # already in the earlier run's lines
                continue
            start = time.perf_counter()
            r = fn()
            r.setdefault("seconds", time.perf_counter() - start)
            results.setdefault(method, []).append(r)
            print(json.dumps({"set": name, "seed": seed, "method": method, **r}, default=float), file=out, flush=True)
    return summary(name, results)


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):5.1f}% ± {100 * std:3.1f}"


def summary(name: str, results: dict[str, list[dict]]) -> list[str]:
    seeds = len(next(iter(results.values())))
    lines = [f"{name}: {seeds} seed(s); plain accuracy, with TTA ({TTA_N} passes), mean ± std; seconds a seed",
             f"  {'method':<46} {'plain':>13} {'TTA':>13} {'time':>7}  notes"]
    for method, rs in results.items():
        notes = ""
        if "sizes" in rs[0]:
            notes = (f"sizes {rs[0]['sizes']}, image epochs {[r['epochs'] for r in rs]}, "
                     f"a step below its start: {sum(r['worse_step'] for r in rs)}/{len(rs)}")
            for k in (2, 3):
                if all(f"ensemble{k}" in r for r in rs):
                    notes += (f"; last {k} cycle ends: {_ms([r[f'ensemble{k}'] for r in rs])}"
                              f" (TTA {_ms([r[f'ensemble{k}_tta'] for r in rs])})")
        tta = [r["tta"] for r in rs if "tta" in r]
        lines.append(f"  {method:<46} {_ms([r['accuracy'] for r in rs]):>13} {_ms(tta):>13} "
                     f"{statistics.mean(r['seconds'] for r in rs):6.0f}s  {notes}")
    return lines


def run(sets=SETS, seeds=SEEDS, methods=(), root: Path | None = None, out_path: str = "bench_quality.jsonl",
        extra: list[str] = (), checklist_from: str | None = None) -> list[str]:
    root = Path(root or tempfile.mkdtemp(prefix="nbtrainer-quality-"))
    lines: list[str] = []
    with open(out_path, "a") as out:
        for name in sets:
            lines += run_set(name, seeds, methods, root, out, extra, earlier_checklists(checklist_from))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--methods", nargs="*", default=[], help="substrings of the peers to run (default: all)")
    parser.add_argument("--root", help="where the image sets are written (default: a new temporary folder)")
    parser.add_argument("--out", default="bench_quality.jsonl")
    parser.add_argument("--checklist-args", default="", help="extra `nbtrainer run` options for the checklist, "
                        "e.g. '--opt adamw' (to measure a default before changing it)")
    parser.add_argument("--checklist-from", help="JSON lines of an earlier run: reuse its checklist results "
                        "(same sets, seeds and --root) instead of running the checklist again")
    args = parser.parse_args()
    extra = shlex.split(args.checklist_args)
    print("\n".join(run(args.sets, args.seeds, args.methods, args.root, args.out, extra, args.checklist_from)))


if __name__ == "__main__":
    main()
