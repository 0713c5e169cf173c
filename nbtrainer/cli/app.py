"""``nbtrainer app``: the code-free classroom app (``notebooks/app.ipynb``) served by Voilà with nbtrainer's
page template, Voilà's lab template without links to another host (a classroom without internet sees no
failed request). Voilà finds templates in Jupyter's data folders: this command puts the package's own
(``nbtrainer/widget/jupyter``) first on ``JUPYTER_PATH``, then becomes ``voila NOTEBOOK --template=nbtrainer``
with the options given after the notebook. Wherever it runs, Voilà also reads the package's ``voila.json``
(``nbtrainer/widget/jupyter/config``, first on ``JUPYTER_CONFIG_PATH``; the same as the repository's): serve no
files, and leave out the JupyterLab extensions the page does not need.

Example::

    nbtrainer app notebooks/app.ipynb --no-browser --Voila.ip=0.0.0.0 --port=8866 --token=class-of-2026
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[1] / "widget" / "jupyter"  # holds voila/templates/nbtrainer
CONFIG = TEMPLATES / "config"  # holds voila.json
TEMPLATE = "nbtrainer"


def voila_command(notebook: str, voila_args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command line and the environment that serve ``notebook`` with nbtrainer's template."""
    if not Path(notebook).is_file():
        raise FileNotFoundError(f"nbtrainer app {notebook}: no such notebook (expected the app's notebook, "
                                "e.g. notebooks/app.ipynb)")
    import importlib.util

    if importlib.util.find_spec("voila") is None:
        raise ValueError("nbtrainer app: Voila is not installed; pip install -e \".[app]\" -c constraints.txt")

    def first(name: str, path: Path) -> str:
        return os.pathsep.join([str(path), *([os.environ[name]] if os.environ.get(name) else [])])

    env = {**os.environ, "JUPYTER_PATH": first("JUPYTER_PATH", TEMPLATES),
           "JUPYTER_CONFIG_PATH": first("JUPYTER_CONFIG_PATH", CONFIG)}
    return [sys.executable, "-m", "voila", notebook, f"--template={TEMPLATE}", *voila_args], env


def app_command(args: argparse.Namespace) -> int:
    cmd, env = voila_command(args.notebook, args.voila_args)
    sys.stdout.flush()
    os.execve(sys.executable, cmd, env)  # becomes Voilà: its signals and exit status are the app's
    return 0  # not reached
