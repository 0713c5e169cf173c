"""Does the recipe make a better classifier than what a user would do instead, judged on images no method
chose anything on? Three real offline sets written as folders with ``train/``, ``valid/`` and ``test/``
(``quality_data.py``: the digits, 719 test images; ``photos`` and ``textures``, 1,000 each), 3 seeds each, the
same pretrained EfficientNet-Lite0 body, side by side; and ``faces`` (``--sets faces``: 200 real 25 px faces
and non-faces, 80 test), the set held out of every choice, run once the defaults were fixed:

- ``checklist``: ``nbtrainer run`` with its defaults (``cli.build_run``: the CLI's own code); its test figure
  is the one the run reports (the choice it kept on validation, scored on ``test/``);
- ``fastai, as documented``: fastai 2.8 as its docs teach a folder: its own ``DataBlock`` (``Resize``,
  ``aug_transforms``), ``lr_find().valley`` as ``base_lr``, ``fine_tune(n)`` at the checklist's last size and
  with as many epochs on images as the checklist ran (``peers.fastai_documented``);
- ``fastai, BatchNorm frozen``: the same with the body's BatchNorm in eval mode (what nbtrainer does): what
  fastai can do on this small-image body;
- ``linear probe``: ``LogisticRegressionCV`` on the frozen body's pooled features (``probe_baseline``: the
  bar ``nbtrainer run`` prints), regularisation chosen by cross-validation on train;
- ``plain PyTorch``: the whole network at once, AdamW (lr 1e-3, weight decay 0.01), ``OneCycleLR``, the
  data's augmentation, as many epochs as the checklist trained on images (at least 8), the best epoch on
  validation kept.

Every method keeps its best on validation the same way: TTA (4 passes, each library's own) is kept where it
beats the plain predictions on ``valid/``; the kept choice is scored on ``test/``. Each difference to the
checklist comes with a 95% paired bootstrap interval (the same test images resampled for both, per seed,
2,000 draws; the mean over seeds): an interval holding 0 is a tie. The interval covers the test sample, not
the seeds' spread, which the per-seed figures show. The checklist's steps are scored on test too: each step's
gain, over the seeds.

Run: ``python benchmarks/bench_quality.py [--sets ...] [--seeds 0 1 2] [--methods ...] [--root DIR]
[--out FILE.jsonl]`` (needs the ``bench`` extra); one JSON line per (set, seed, method) goes to ``--out``;
``--summarize FILE.jsonl [--variant NAME=OTHER.jsonl ...]`` prints the tables of earlier lines without running
anything (a variant: the checklist run with other ``--checklist-args``, compared with the default, paired).
"""
from __future__ import annotations

import argparse
import json
import shlex
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from nbtrainer import ImageData, Learner
from nbtrainer.cli import build_parser, build_run
from nbtrainer.recipe.test_scores import kept_predictions
from nbtrainer.results.baseline import probe_baseline
from nbtrainer.train.evaluation import TTA_N

try:
    from .bench_quality_report import report
    from .peers import fastai_documented, fastai_predictions
    from .quality_data import make_set
except ImportError:  # run as a script
    from bench_quality_report import report
    from peers import fastai_documented, fastai_predictions
    from quality_data import make_set

SETS, SEEDS = ("digits", "photos", "textures"), (0, 1, 2)
HELD_OUT_SETS = ("faces",)  # run only when named (--sets faces): the check on data no choice was made on
CHECKLIST = "checklist (nbtrainer run)"


def bits(correct) -> str:
    """Per test image, in order: 1 predicted right, 0 wrong (the bootstrap pairs them)."""
    return "".join("1" if c else "0" for c in np.asarray(correct, dtype=bool))


def kept_on_valid(preds: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict:
    """The choice every method makes alike: TTA where it beats the plain predictions on validation; that
    choice scored on test. ``preds``: ``valid``, ``valid_tta``, ``test``, ``test_tta`` -> (probs, targets)."""
    right = {k: (p.argmax(1) == t).numpy() for k, (p, t) in preds.items()}
    use_tta = right["valid_tta"].mean() > right["valid"].mean()
    test = right["test_tta" if use_tta else "test"]
    return {"test": float(test.mean()), "correct": bits(test), "chosen": "TTA" if use_tta else "plain",
            "valid": float(right["valid_tta" if use_tta else "valid"].mean()), "test_plain": float(right["test"].mean())}


def nbtrainer_predictions(learn: Learner) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {"valid": learn.get_preds(), "valid_tta": learn.tta(TTA_N),
            "test": learn.get_preds(split="test"), "test_tta": learn.tta(TTA_N, split="test")}


def checklist(folder: str, seed: int, extra: list[str] = ()) -> dict:
    start = time.perf_counter()
    args = build_parser().parse_args(["run", "--data", folder, "--seed", str(seed), "--no-progress", *extra])
    _, learn, steps = build_run(args)
    steps.run()
    seconds = time.perf_counter() - start
    tta = steps.steps[-1].result
    # the run's own test figure, again per image: the global random state is where the run's scoring began
    # (recipe.test_scores puts it back), so TTA draws the same views
    probs, targets = kept_predictions(learn, tta)
    correct = (probs.argmax(1) == targets).numpy()
    if abs(correct.mean() - tta["test_accuracy"]) > 1e-6:  # the bootstrap must pair what the run reported
        raise RuntimeError(f"the per-image test results ({correct.mean():.4f}) differ from the run's "
                           f"test_accuracy ({tta['test_accuracy']:.4f})")
    fits = [s for s in steps.steps if s.action == "fit"]
    return {"test": tta["test_accuracy"], "correct": bits(correct), "chosen": tta["chosen"], "valid": tta["accuracy"],
            "test_plain": tta["test_plain_accuracy"], "sizes": steps.sizes,
            "epochs": sum(s.result["epochs"] for s in fits[1:]),
            "steps": [{"name": s.name, "test": s.result["test_accuracy"], "valid": s.result["accuracy"],
                       "kept": s.result["kept"], "epochs": s.result["epochs"]} for s in fits],
            "seconds": seconds}


def fastai(folder: str, seed: int, size: int, epochs: int, freeze_bn: bool) -> dict:
    learn = Learner(ImageData.from_folder(folder, size=size, seed=seed), seed=seed)  # the same pretrained body
    flearn = fastai_documented(folder, size, epochs, learn.model, learn.layer_groups, seed, freeze_bn)
    return kept_on_valid(fastai_predictions(flearn, folder))


def linear_probe(folder: str, seed: int, size: int) -> dict:
    learn = Learner(ImageData.from_folder(folder, size=size, seed=seed), seed=seed)
    learn.precompute = True  # the frozen body's pooled features of every image, once
    probe = probe_baseline(learn)
    return {"test": probe.test_accuracy, "correct": bits(probe.test_correct), "chosen": f"C={probe.C:.3g}",
            "valid": probe.accuracy}


def plain_pytorch(folder: str, seed: int, size: int, epochs: int = 8, lr: float = 1e-3) -> dict:
    learn = Learner(ImageData.from_folder(folder, size=size, seed=seed, augment=True), seed=seed)
    learn.unfreeze()
    model = learn.model
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * learn.data.train_batches)
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
    return kept_on_valid(nbtrainer_predictions(learn))


def peers(folder: str, seed: int, ours: dict) -> dict[str, Callable[[], dict]]:
    size, epochs = ours["sizes"][-1], max(1, ours["epochs"] - 1)  # fine_tune(n): 1 frozen epoch + n
    return {"fastai, as documented": lambda: fastai(folder, seed, size, epochs, freeze_bn=False),
            "fastai, BatchNorm frozen": lambda: fastai(folder, seed, size, epochs, freeze_bn=True),
            "linear probe (LogisticRegressionCV)": lambda: linear_probe(folder, seed, size),
            "plain PyTorch (AdamW, one-cycle, best epoch)": lambda: plain_pytorch(folder, seed, size,
                                                                                 max(8, ours["epochs"]))}


def run_set(name: str, seeds, methods, root: Path, out, extra: list[str] = ()) -> list[dict]:
    rows = []
    for seed in seeds:
        folder = str(make_set(name, seed, root))
        ours = checklist(folder, seed, extra)
        rows.append({"set": name, "seed": seed, "method": CHECKLIST, **ours})
        print(json.dumps(rows[-1], default=float), file=out, flush=True)
        for method, fn in peers(folder, seed, ours).items():
            if methods and not any(m in method for m in methods):
                continue
            start = time.perf_counter()
            result = fn()
            rows.append({"set": name, "seed": seed, "method": method, "seconds": time.perf_counter() - start,
                         **result})
            print(json.dumps(rows[-1], default=float), file=out, flush=True)
    return rows


def read_rows(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS + HELD_OUT_SETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--methods", nargs="*", default=[], help="substrings of the peers to run (default: all)")
    parser.add_argument("--root", help="where the image sets are written (default: a new temporary folder)")
    parser.add_argument("--out", default="bench_quality.jsonl")
    parser.add_argument("--checklist-args", default="", help="extra `nbtrainer run` options for the checklist, "
                        "e.g. '--patience 2' (to measure a default before changing it)")
    parser.add_argument("--summarize", help="print the tables of an earlier run's JSON lines; run nothing")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=FILE.jsonl",
                        help="with --summarize: the checklist lines of another run (e.g. --checklist-args "
                             "'--patience 2'), shown as the method 'checklist, NAME' beside the default")
    args = parser.parse_args()
    if args.summarize:
        rows = read_rows(args.summarize)
        for variant in args.variant:
            if "=" not in variant:
                parser.error(f"--variant {variant!r}: expected NAME=FILE.jsonl")
            name, path = variant.split("=", 1)
            rows += [{**r, "method": f"checklist, {name}", "steps": None} for r in read_rows(path)
                     if r["method"] == CHECKLIST]
    else:
        root = Path(args.root or tempfile.mkdtemp(prefix="nbtrainer-quality-"))
        with open(args.out, "a") as out:
            rows = [row for name in args.sets
                    for row in run_set(name, args.seeds, args.methods, root, out, shlex.split(args.checklist_args))]
    print("\n".join(report(rows, CHECKLIST)))


if __name__ == "__main__":
    main()
