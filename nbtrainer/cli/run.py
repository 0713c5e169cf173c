"""What ``nbtrainer run`` and ``nbtrainer predict`` do once their options are checked: build the data,
learner and checklist, run the steps with their output, write the report.

Example::

    data, learn, checklist = build_run(build_parser().parse_args(["run", "--limit", "200"]))
    checklist.run()
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import torch

from ..train.precision import cpu_flags
from .options import check_model_options, check_out, defaults, settings_of


def image_files(paths: list[str]) -> list[str]:
    """``paths`` with each folder replaced by the image files in it (its sub-folders too, safely walked)."""
    from pathlib import Path

    from ..data.scan import list_pictures

    return [f for path in paths for f in (list_pictures(Path(path)) if Path(path).is_dir() else [path])]


def predict_command(args: argparse.Namespace) -> int:
    """The table of the images that could be read; each one that could not is named on stderr (exit 1)."""
    from ..data.sources import BadImageError
    from ..train.predict import Predictor

    predictor = Predictor.from_file(args.checkpoint)
    rows, failed = [], 0
    for path in image_files(args.images):
        try:
            rows.append((str(path), *predictor.predict(path)))
        except (BadImageError, OSError, ValueError) as e:
            failed += 1
            print(f"nbtrainer: {path}: {e}", file=sys.stderr)
    if rows:
        print(format_predictions(rows, predictor.classes, args.top))
    if args.csv:
        from ..results.evaluate import write_csv

        write_csv(args.csv, [{"path": name, "predicted": label, "probability": round(float(probs.max()), 6)}
                             for name, label, probs in rows])
    return 1 if failed else 0


def evaluate_command(args: argparse.Namespace) -> int:
    """Accuracy, per-class precision and recall and the confusion matrix of a model on a labelled folder."""
    from ..present.html import pct
    from ..results.evaluate import evaluate_folder
    from ..train.predict import Predictor

    result = evaluate_folder(Predictor.from_file(args.checkpoint), args.folder, tta=args.tta or 0)
    it = result.interpretation
    tta = f" (with TTA: the plain and {args.tta} augmented views of each image)" if args.tta else ""
    print(f"{len(result.paths)} images of '{args.folder}': accuracy {result.accuracy:.2%}{tta}")
    print(f"{'class':<24} {'precision':>9} {'recall':>7} {'images':>7}")
    for row in it.per_class():  # (no image of a class, or none predicted as it: no figure, "-")
        print(f"{row['class'][:24]:<24} {pct(row['precision']):>9} {pct(row['recall']):>7} {row['support']:>7}")
    print("confusion matrix (rows: the class, columns: the prediction, in the order above):")
    for name, counts in zip(it.classes, it.confusion_matrix().tolist()):
        print(f"{name[:24]:<24} " + " ".join(f"{n:>5}" for n in counts))
    if args.csv:
        print(f"one row per image: {result.write_csv(args.csv)}")
    return 0


def run_command(args: argparse.Namespace) -> int:
    """The recipe; under torchrun every rank trains (see :mod:`nbtrainer.distributed`), rank 0 reports."""
    from .. import distributed

    ranks = distributed.init_from_env(args.device)
    try:
        return train_and_report(args, ranks)
    finally:
        distributed.shutdown()


def build_run(args: argparse.Namespace, ranks=None, callbacks=()):
    """The data, learner and checklist that ``nbtrainer run`` with ``args`` trains (the benchmarks use it too).

    Example::

        data, learn, checklist = build_run(build_parser().parse_args(["run", "--data", "photos/"]))
        checklist.run()
    """
    from ..data.image_data import ImageData
    from ..data.sharding import check_global_batch
    from ..recipe.checklist import Checklist
    from ..train.learner import Learner
    from ..train.precompute import ActivationCache

    settings = settings_of(args)  # every option checked before any work
    bs = args.bs or defaults(ImageData.from_folder)["bs"]  # without --bs, the recipe may make it smaller
    if args.data is not None and args.dataset is not None:
        raise ValueError(f"--data {args.data!r} and --dataset {args.dataset!r}: give one of them")
    if args.limit is not None and (args.data is not None or args.dataset is not None):
        raise ValueError(f"--limit {args.limit}: it picks the first images of the embedded digits; with --data or "
                         "--dataset, expected no --limit")
    if args.test_pct and args.dataset is not None:
        raise ValueError(f"--test-pct {args.test_pct}: --dataset {args.dataset} has its official test split; "
                         "expected no --test-pct")
    check_out(args.out)
    check_model_options(args)
    if args.dataset is not None:
        from ..datasets import load

        data = load(args.dataset, root=args.data_root, size=args.size or 64, bs=bs, seed=args.seed,
                    num_workers=args.workers, valid_pct=args.valid_pct)
    elif args.data is None:
        data = ImageData.demo(size=args.size or 64, bs=bs, seed=args.seed, valid_pct=args.valid_pct,
                              n=args.limit, test_pct=args.test_pct or 0.0)
    else:
        data = ImageData.from_folder(args.data, size=args.size or 64, valid_pct=args.valid_pct, bs=bs,
                                     seed=args.seed, num_workers=args.workers, bad_images=args.bad_images,
                                     test_pct=args.test_pct or 0.0)
    learn = Learner(data, arch=args.arch, opt=args.opt, seed=args.seed, callbacks=callbacks, device=args.device,
                    amp=args.amp, channels_last=args.channels_last,
                    bn_freeze=args.bn_freeze, cache=ActivationCache(args.cache_dir))
    final = args.final_size if args.final_size is not None else (0 if args.size else None)
    checklist = Checklist.recipe(learn, size=args.size or "auto", final_size=final, bs=args.bs or "auto",
                                 **dataclasses.asdict(settings))
    if ranks is not None:  # the batch size as planned (a small folder's is smaller), before any training
        check_global_batch(data.bs, len(data.train), ranks)
    return data, learn, checklist


def precision_text(args: argparse.Namespace, device: str) -> str:
    """The precision and memory format of this run; on a CPU with the defaults, why they are the defaults."""
    if device == "cpu" and args.amp is None and args.channels_last:
        return cpu_precision_note()
    return f"{args.amp or 'float32'}{' + channels_last' if args.channels_last else ''} on {device}"


def train_and_report(args: argparse.Namespace, ranks) -> int:
    from ..results.baseline import svc_baseline
    from ..results.interpret import Interpretation
    from ..recipe.summary import detail, format_table, summary_rows
    from ..report import write_report
    from ..train.progress import TqdmProgress

    start = time.perf_counter()
    callbacks = [] if args.no_progress or not ranks.is_main else [TqdmProgress()]
    data, learn, checklist = build_run(args, ranks, callbacks)
    say = print if ranks.is_main else (lambda *a, **k: None)  # one copy of the output, from rank 0
    say(f"data: {data}  classes: {', '.join(data.classes[:12])}{' ...' if data.c > 12 else ''}", flush=True)
    if ranks.enabled:
        say(f"distributed: {ranks.world_size} processes, global batch {data.bs} "
            f"({data.bs // ranks.world_size} a process)", flush=True)
    say(f"plan: {checklist.plan}", flush=True)
    say(f"precision: {precision_text(args, learn.device.type)}", flush=True)
    checklist.on_wait = lambda text: text and say(f"   {text}", flush=True)

    def run_seconds() -> float:  # the probe's seconds are the bar's, not the recipe's
        return time.perf_counter() - start - checklist.steps[0].result.get("probe_seconds", 0.0)

    for step in checklist.steps:
        say(f"-> {step.name}: {step.why}", flush=True)
        try:
            checklist.run_step(step)
        except Exception:  # the steps that finished are not lost: their report and checkpoint are written
            if ranks.is_main:
                paths = write_report(args.out, learn, checklist, {"failed_step": step.name, "error": step.error,
                                                                  "seconds": run_seconds()})
                print(f"nbtrainer: step '{step.name}' failed: {step.error}\nthe steps before it are saved: "
                      f"{', '.join(str(p) for p in paths.values())}", file=sys.stderr)
            raise StepFailed(step.error) from None
        if step.action == "lr_find":
            say(f"   {detail(step.result)} ({step.result['stop_reason']})", flush=True)
        elif step.action == "precompute" and detail(step.result):  # the bar to beat, before any training
            how = (f" (logistic regression on the cached features, C by cross-validation; "
                   f"{step.result['probe_seconds']:.1f} s, not counted in the run's time)"
                   if "probe_seconds" in step.result else "")
            say(f"   {detail(step.result)}{how}", flush=True)
        elif step.result.get("kept"):
            say(f"   accuracy {step.result['accuracy']:.2%}, {detail(step.result)}", flush=True)
    probe = checklist.steps[0].result  # the precompute step's: the probe_* keys, when the probe could be fit
    seconds = run_seconds()
    interp = Interpretation.from_learner(learn)  # plain predictions: the same as the accuracy printed first
    if not ranks.is_main:
        return 0
    baseline = svc_baseline(data)
    tta = checklist.steps[-1].result
    extra = {"accuracy": tta["plain_accuracy"], "tta_accuracy": tta["tta_accuracy"], "final_accuracy": tta["accuracy"],
             "final_predictions": tta["chosen"], "svc_baseline": baseline,
             "probe_accuracy": probe.get("probe_accuracy"), **test_metrics(tta, probe),
             "seconds": seconds, "sizes": checklist.sizes, "processes": ranks.world_size}
    paths = write_report(args.out, learn, checklist, extra, interp)
    print()
    print(format_table(summary_rows(checklist)))
    print()
    sizes = " -> ".join(f"{px}px" for px in checklist.sizes)
    base = "n/a (images on disk, or over 5,000)" if baseline is None else f"{baseline:.2%}"
    print(f"validation accuracy: {tta['plain_accuracy']:.2%} (with TTA: {tta['tta_accuracy']:.2%}; kept "
          f"{tta['chosen']}: {tta['accuracy']:.2%}{'' if 'test_accuracy' in tta else '; ' + over_probe(tta, probe)})"
          f"  |  raw-pixel SVC baseline: {base}  |  images {sizes}  |  {seconds:.0f} s")
    if "test_accuracy" in tta:
        plain = "" if tta["chosen"] == "plain" else f"; plain predictions {tta['test_plain_accuracy']:.2%}"
        print(f"test accuracy: {tta['test_accuracy']:.2%} ({tta['chosen']}{plain}) on {len(data.test)} images "
              f"never used to choose; {over_probe(tta, probe)}")
    else:
        print("no test set: the validation accuracy is optimistic, the recipe chose on it (--test-pct holds one out)")
    print(f"report: {', '.join(str(p) for p in paths.values())}")
    return 0


def test_metrics(tta: dict, probe: dict) -> dict:
    """``metrics.json``'s test-set figures (absent without a test set)."""
    if "test_accuracy" not in tta:
        return {}
    return {"test_accuracy": tta["test_accuracy"], "test_plain_accuracy": tta["test_plain_accuracy"],
            "probe_test_accuracy": probe.get("probe_test_accuracy")}


def over_probe(tta: dict, probe: dict) -> str:
    """The result against the linear probe (the precompute step's result): on the test set when there is one,
    else on validation."""
    if "probe_accuracy" not in probe:
        return "linear probe: n/a"
    on_test = "test_accuracy" in tta and "probe_test_accuracy" in probe
    ours, bar = ((tta["test_accuracy"], probe["probe_test_accuracy"]) if on_test
                 else (tta["accuracy"], probe["probe_accuracy"]))
    points = 100 * (ours - bar)
    return (f"{abs(points):.1f} points {'over' if points >= 0 else 'below'} the linear probe's {bar:.2%}"
            f"{' on test' if on_test else ''}")


class StepFailed(Exception):
    """A step of ``nbtrainer run`` failed after the report of the steps before it was written."""


def format_predictions(rows: list[tuple[str, str, torch.Tensor]], classes: list[str], top: int = 3) -> str:
    """A table: file, predicted class, its probability, the next ``top - 1`` classes."""
    lines = [f"{'image':<40} {'prediction':<14} {'prob':>6}  next"]
    for name, label, probs in rows:
        best = torch.argsort(probs, descending=True)[:top].tolist()
        others = ", ".join(f"{classes[i]} {float(probs[i]):.2f}" for i in best[1:])
        lines.append(f"{name[-40:]:<40} {label:<14} {float(probs[best[0]]):>6.3f}  {others}")
    return "\n".join(lines)


def cpu_precision_note() -> str:
    """Why a CPU run is float32 + channels_last, for this CPU (printed in the CLI's plan).

    Measured (``benchmarks/bench_cpu_paths.py``, table in ``benchmarks/README.md``) on a 2-core AVX-512 CPU
    with AVX-512 BF16 and no AMX: channels_last makes an unfrozen epoch 1.5x (64 px) to 2x (128 px) faster
    than the default layout; ``amp="bf16"`` is 1.4x slower at 64 px (the whole recipe 165 s against 114 s,
    accuracy 98.2% against 99.0% over 3 seeds) and level at 128 px (0.95x an epoch, the recipe 6% faster at
    the same accuracy); ``torch.compile`` gains nothing after a minute and a half of compiling. On CPUs with
    AMX, bf16 runs on a matrix unit and may win: not measured here.
    """
    flags = cpu_flags()
    isa = torch.backends.cpu.get_cpu_capability()
    if "amx_bf16" in flags:
        return (f"float32 + channels_last ({isa} with AMX: bf16 may be faster here, not measured; "
                f"try --amp bf16 and compare with benchmarks/bench_cpu_paths.py)")
    has = " with AVX-512 BF16" if "avx512_bf16" in flags else ""
    return (f"float32 + channels_last (measured the fastest at the same accuracy on {isa}{has} CPUs "
            f"without AMX; --amp bf16 to try it)")
