"""``nbtrainer``'s command line: its options, with their defaults read from the library, each checked
before any work (a bad one exits 2 naming it).

Example::

    args = build_parser().parse_args(["run", "--size", "64"])
    settings_of(args)      # RecipeSettings(...) or ValueError naming the option
"""
from __future__ import annotations

import argparse
import inspect
import os
from pathlib import Path

import torch

from ..data.image_data import ImageData
from ..datasets import NAMES as DATASETS
from ..recipe.settings import RecipeSettings, SettingError
from ..train.learner import MIN_MODEL_SIZE, OPTIMIZERS, Learner

DEFAULTS = RecipeSettings()  # one set of defaults for the CLI and Checklist.recipe


def defaults(f) -> dict:
    """The default of each argument of ``f``: the options of the Learner and of the data take theirs from
    the library, so a changed default there reaches ``nbtrainer run``."""
    return {name: p.default for name, p in inspect.signature(f).parameters.items()}


def on(flag: bool) -> str:
    return "on" if flag else "off"


def option(name: str) -> str:
    """The ``nbtrainer run`` option of a :class:`RecipeSettings` field."""
    return "--tta" if name == "tta_n" else "--" + name.replace("_", "-")


def int_at_least(low: int):
    """An argparse type: an integer >= ``low`` (argparse names the option and exits 2 otherwise)."""
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse


def size_or_none(text: str) -> int:
    """An argparse type for --final-size: 0 (no resize) or a size the body takes (>= MIN_MODEL_SIZE)."""
    value = int(text)
    if value != 0 and value < MIN_MODEL_SIZE:
        raise argparse.ArgumentTypeError(f"expected 0 (no resize) or a size >= {MIN_MODEL_SIZE} (the body "
                                         f"downsamples by {MIN_MODEL_SIZE}), got {value}")
    return value


def fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {value}")
    return value


def settings_of(args: argparse.Namespace) -> RecipeSettings:
    """The recipe settings of ``args``, checked (each field's range) before any work; a bad one raises a
    ValueError naming its option."""
    try:
        return RecipeSettings(**{name: getattr(args, "tta" if name == "tta_n" else name)
                                 for name in RecipeSettings.names()})
    except SettingError as e:
        raise ValueError(f"{option(e.name)} {e.value}: expected {e.expected}") from None


def build_parser() -> argparse.ArgumentParser:
    learner, folder = defaults(Learner), defaults(ImageData.from_folder)
    parser = argparse.ArgumentParser(prog="nbtrainer", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train with the course checklist and write a report")
    run.add_argument("--data", help="ImageFolder tree (DIR/<class>/<image>, or DIR/train with DIR/valid and/or "
                                    "DIR/test); "
                                    "default: the embedded handwritten digits")
    run.add_argument("--dataset", choices=DATASETS, help="a standard data set, downloaded once through torchvision "
                                                         "(nbtrainer.datasets): " + ", ".join(DATASETS))
    run.add_argument("--data-root", help="cache folder of --dataset (default: $NBTRAINER_DATA or "
                                         "~/.cache/nbtrainer/datasets)")
    run.add_argument("--valid-pct", type=fraction, default=folder["valid_pct"], help="held-out fraction when there is no valid folder")
    run.add_argument("--test-pct", type=fraction, help="hold out this fraction of the images as a test set the "
                     "recipe never chooses on, scored at the end (default: none; a DIR/test folder beside DIR/train, "
                     "or a --dataset's official test split, is used by itself)")
    run.add_argument("--bad-images", choices=("error", "skip"), default=folder["bad_images"],
                     help="files of --data that are not usable images: stop before training and list them "
                          "(error, default) or leave them out with a warning (skip)")
    run.add_argument("--limit", type=int_at_least(10), help="use only the first N images of the embedded data (quick runs)")
    run.add_argument("--arch", default=learner["arch"], help="efficientnet_lite0 (offline) or a torchvision name")
    run.add_argument("--size", type=int_at_least(MIN_MODEL_SIZE), help="image size of the first stages (default: from the images' own size, "
                                               "see nbtrainer.data.sizes; the plan is printed before training)")
    run.add_argument("--final-size", type=size_or_none, help="progressive resizing: size of the last stage (0: none; "
                                                     "default: from the images' own size)")
    run.add_argument("--bs", type=int_at_least(1),
                     help=f"batch size (default: {folder['bs']}, or smaller where {folder['bs']} would leave fewer "
                          f"than 4 batches an epoch; the plan says so)")
    d = DEFAULTS
    run.add_argument("--lr", type=float, default=d.lr, help="peak LR of the last layer group until lr_find "
                                                            "suggests one")
    run.add_argument("--lr-find-iters", type=int, default=d.lr_find_iters, help="iterations of the first LR range test")
    run.add_argument("--unfrozen-lr-find-iters", type=int, default=d.unfrozen_lr_find_iters,
                     help="iterations of the second LR range test (whole network: each costs a full step)")
    run.add_argument("--ratio", type=float, default=d.ratio, help="each layer group's LR is this many times lower "
                                                                  "than the next one's (3-10 in the course)")
    run.add_argument("--head-cycles", type=int, default=d.head_cycles, help="epochs training the head on "
                                                                             "precomputed activations")
    run.add_argument("--aug-cycles", type=int, default=d.aug_cycles, help="cycles training the head with augmentation")
    run.add_argument("--unfrozen-cycles", type=int, default=d.unfrozen_cycles,
                     help="at most this many cycles of the whole network (1, 2, 4... epochs), until over-fitting")
    run.add_argument("--final-cycles", type=int, default=d.final_cycles,
                     help="at most this many cycles at the final size (cycle_mult=2), until over-fitting")
    run.add_argument("--patience", type=int, default=d.patience,
                     help="an unfrozen step stops after this many cycle ends without a lower validation loss")
    run.add_argument("--stop-on", default=d.stop_on, help="what --patience watches at each cycle end: loss (no new "
                                                        "low of the validation loss; default) or accuracy (no new high)")
    run.add_argument("--warmup", type=float, default=d.warmup,
                     help="fraction of an unfrozen step's first cycle held at lr/100 (0: none)")
    run.add_argument("--snapshots", type=int, default=d.snapshots,
                     help="the last step averages this many cycle ends' weights (snapshot ensemble; 1: the kept weights)")
    run.add_argument("--tta", type=int, default=d.tta_n, help="augmented passes in test-time augmentation")
    run.add_argument("--budget", type=float, default=d.budget,
                     help="minutes from the first step's start (after any wait for the CPU): the whole network "
                          "then trains on while the patience allows, up to 6 cycles of 1, 2, 4... epochs (this "
                          "replaces --unfrozen-cycles and --final-cycles), and no cycle of the unfrozen and resize "
                          "steps starts that would end past the budget; each of them runs one cycle at least "
                          "(default: no budget)")
    run.add_argument("--opt", default=learner["opt"], choices=OPTIMIZERS,
                     help=f"the optimizer (default: {learner['opt']}; adamw measured better than the course's SGD)")
    run.add_argument("--bn-freeze", action=argparse.BooleanOptionalAction, default=learner["bn_freeze"],
                     help=f"keep the body's BatchNorm statistics as pretrained after unfreezing (default: "
                          f"{on(learner['bn_freeze'])}; on measured better on every benchmark set)")
    run.add_argument("--cache-dir", help="folder for large precomputed-activation caches "
                                         "(default: $NBTRAINER_CACHE or ~/.cache/nbtrainer/activations)")
    run.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda, cuda:1...")
    run.add_argument("--amp", choices=("bf16", "fp16"), default=learner["amp"],
                     help="mixed precision (default: float32)")
    run.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=learner["channels_last"],
                     help=f"channels_last memory format (default: {on(learner['channels_last'])}; faster "
                          f"convolutions on CPUs and GPUs)")
    run.add_argument("--seed", type=int, default=learner["seed"])
    run.add_argument("--workers", type=int_at_least(0), help="DataLoader worker processes (default: by the machine)")
    run.add_argument("--out", default="nbtrainer-out", help="report folder (checkpoint, metrics, plots)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    model_help = ("a model file (nbtrainer-out/model.safetensors: safe to load from anyone) or a checkpoint "
                  "(nbtrainer-out/checkpoint.pt)")
    pred = sub.add_parser("predict", help="predict the class of image files with a trained model")
    pred.add_argument("checkpoint", help=model_help)
    pred.add_argument("images", nargs="+", help="image files, or folders (every image in them)")
    pred.add_argument("--top", type=int_at_least(1), default=3, help="classes shown per image")
    pred.add_argument("--csv", help="also write one row per image to this CSV file (path, prediction, probability)")
    ev = sub.add_parser("evaluate", help="score a trained model on a labelled folder it never saw")
    ev.add_argument("checkpoint", help=model_help)
    ev.add_argument("folder", help="one sub-folder of images per class, each named as one of the model's classes")
    ev.add_argument("--csv", help="also write one row per image to this CSV file (path, class, predicted, "
                                  "probability, correct)")
    ev.add_argument("--tta", type=int_at_least(1), help="test-time augmentation: average the plain and N augmented "
                                                         "views of each image (the training's augmentation settings)")
    app = sub.add_parser("app", help="serve the code-free classroom app with Voila (nbtrainer's page template)")
    app.add_argument("notebook", help="the app's notebook, first (e.g. notebooks/app.ipynb); Voila's options after it")
    app.add_argument("voila_args", nargs=argparse.REMAINDER,
                     help="Voila's own options, e.g. --no-browser --port=8866 --token=class-of-2026")
    return parser


def check_out(out: str) -> None:
    """``--out`` must be a folder that can be made (or is one), checked before any work: a run is not lost at
    its end for a report that cannot be written."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {out!r} is a file; expected a folder for the report")
    parent = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out!r}: '{parent}' is not a folder this user can write in; expected a folder "
                         "for the report")


def check_model_options(args: argparse.Namespace) -> None:
    """``--arch`` and ``--device``, checked before the data is read (a folder's images are all decoded)."""
    from ..distributed import resolve_device
    from ..model.backbones import ARCHS

    if args.arch not in ARCHS:
        raise ValueError(f"--arch {args.arch!r}: expected one of {', '.join(ARCHS)}")
    try:
        device = resolve_device(args.device)
    except RuntimeError as e:
        raise ValueError(f"--device {args.device!r}: expected auto, cpu, cuda or cuda:N ({e})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device!r}: this machine has no CUDA GPU; expected auto or cpu")
