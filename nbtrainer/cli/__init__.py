"""``nbtrainer run``: the course recipe on a folder of images or the embedded digits, with a report.

Example::

    nbtrainer run                                  # embedded digits, report in nbtrainer-out/
    nbtrainer run --data pets/ --size 128 --final-size 224 --lr 1e-2
    nbtrainer run --dataset imagenette             # downloaded once into ~/.cache/nbtrainer/datasets
    nbtrainer predict nbtrainer-out/model.safetensors cat.jpg dog.png photos/ --csv predictions.csv
    nbtrainer evaluate nbtrainer-out/model.safetensors photos/test --csv test.csv
    nbtrainer app notebooks/app.ipynb --no-browser --port=8866   # the classroom app in Voila
    torchrun --standalone --nproc_per_node 2 -m nbtrainer run     # DistributedDataParallel, 2 processes
"""
from __future__ import annotations

import os
import sys

from ..datasets.download import DatasetError
from .app import app_command
from .options import DEFAULTS, build_parser, check_out, settings_of
from .run import StepFailed, build_run, evaluate_command, predict_command, run_command

__all__ = ["DEFAULTS", "build_parser", "build_run", "check_out", "main", "settings_of"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        commands = {"predict": predict_command, "evaluate": evaluate_command, "run": run_command,
                    "app": app_command}
        return commands[args.command](args)
    except StepFailed:
        return 1
    except (ValueError, FileNotFoundError, NotADirectoryError, DatasetError) as e:
        from ..distributed import launched_by_torchrun

        where = f" (rank {os.environ.get('RANK')})" if launched_by_torchrun() else ""
        print(f"nbtrainer: error{where}: {e}", file=sys.stderr)
        return 2

