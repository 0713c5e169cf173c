"""Accuracy at an equal epoch budget (7 epochs) on the embedded digits at 64 px, the same pretrained
EfficientNet-Lite0 body and a new head seeded alike, 3 seeds (the seed also picks the train/valid split):

- the course checklist (``Checklist.recipe``: 2 head epochs on the cache, 2 with augmentation, unfreeze,
  lr_find again, 1 + 2 epochs with cycle_mult=2; LRs from lr_find; bn_freeze as ``nbtrainer run`` uses);
- fastai 2.8 ``fine_tune(5, freeze_epochs=2)`` with its defaults (Adam, one-cycle, base_lr 2e-3, BatchNorm
  trained) on the same model and augmented loaders;
- a constant-LR fine-tune: 2 head epochs at 1e-2, then 5 epochs of the whole network at 1e-3, SGD with
  momentum, no schedule, the same augmentation.

Reported: validation accuracy without TTA (mean ± std over the seeds; the checklist's TTA accuracy apart).

Run: ``python benchmarks/bench_accuracy.py`` (needs the ``bench`` extra)
"""
from __future__ import annotations

import statistics
import time


from nbtrainer import Checklist, ImageData, Learner
from nbtrainer.model.classifier import set_train_mode

try:
    from .peers import fastai_learner, quiet_fastai
except ImportError:  # run as a script
    from peers import fastai_learner, quiet_fastai

SIZE, SEEDS = 64, (0, 1, 2)


def _learner(seed: int, augment: bool, bn_freeze: bool = False) -> Learner:
    return Learner(ImageData.demo(size=SIZE, bs=64, seed=seed, augment=augment), seed=seed, bn_freeze=bn_freeze,
                   opt="sgd")


def checklist(seed: int) -> dict:
    learn = _learner(seed, augment=False, bn_freeze=True)
    steps = Checklist.recipe(learn, head_cycles=2, aug_cycles=2, unfrozen_cycles=2, tta_n=4).run().steps
    tta = steps[-1].result
    return {"accuracy": tta["plain_accuracy"], "tta": tta["accuracy"]}


def fastai_fine_tune(seed: int) -> dict:
    learn = _learner(seed, augment=True)
    flearn = fastai_learner(learn, opt="adam")
    with quiet_fastai(flearn):
        flearn.fine_tune(5, freeze_epochs=2)
    return {"accuracy": learn.validate()[1]}


def constant_lr(seed: int) -> dict:
    learn = _learner(seed, augment=True)
    for lr, epochs, unfreeze in ((1e-2, 2, False), (1e-3, 5, True)):
        if unfreeze:
            learn.unfreeze()
        for group in learn.opt.param_groups:
            group["lr"] = lr
        for _ in range(epochs):
            set_train_mode(learn.model, learn.layer_groups, learn.n_frozen, learn.config["bn_freeze"])
            for xb, yb in learn.train_loader():
                learn.train_batch(xb, yb)
    return {"accuracy": learn.validate()[1]}


METHODS = {"course checklist (nbtrainer)": checklist, "fastai fine_tune(5, freeze_epochs=2)": fastai_fine_tune,
           "constant-LR fine-tune": constant_lr}


def _mean_std(values: list[float]) -> str:
    return f"{statistics.mean(values):.2%} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.2%}"


def run(seeds=SEEDS) -> list[str]:
    lines = [f"accuracy at 7 epochs, {SIZE}px digits, seeds {list(seeds)} (validation, no TTA):"]
    for name, method in METHODS.items():
        start = time.perf_counter()
        results = [method(seed) for seed in seeds]
        accs = [r["accuracy"] for r in results]
        extra = f"; with TTA {_mean_std([r['tta'] for r in results])}" if "tta" in results[0] else ""
        lines.append(f"  {name:<38} {_mean_std(accs)}  (each: {', '.join(f'{a:.2%}' for a in accs)}){extra}"
                     f"  [{(time.perf_counter() - start) / len(seeds):.0f} s a seed]")
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
