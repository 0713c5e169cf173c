"""The package as users get it: a wheel built by ``python -m build``, installed into a fresh virtual environment
with ``constraints.txt``, running ``nbtrainer run`` from the wheel (never from this source tree).

No network: the venv sees the packages already installed here (torch and the rest, installed under the same
constraints: a ``.pth`` file adds this environment's site-packages, as ``--system-site-packages`` would for a
base interpreter, and works when this environment is itself a venv) and pip runs with ``--no-index``, so the
install must be satisfied by what is there, and must replace nothing (the point of declaring ranges).
"""
from __future__ import annotations

import shutil
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _sources(dest: Path) -> Path:
    """What the wheel is built from: pyproject, README and the package (no build/ or egg-info of this tree)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "nbtrainer", dest / "nbtrainer", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _run(cmd: list, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{cmd}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_the_wheel_installs_beside_the_existing_torch_and_runs(tmp_path):
    src = _sources(tmp_path / "src")
    # --no-isolation: the build backend (setuptools, wheel) from this environment, no download
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp_path / "dist", src], tmp_path)
    (wheel,) = (tmp_path / "dist").glob("nbtrainer-*.whl")
    import zipfile
    template = "nbtrainer/widget/jupyter/voila/templates/nbtrainer/"
    assert {template + "conf.json", template + "index.html.j2"} <= set(zipfile.ZipFile(wheel).namelist())  # nbtrainer app

    env_dir = tmp_path / "venv"
    # no pip or setuptools of its own: Python 3.11's bundled setuptools 65 would shadow ours (torch needs >= 77)
    venv.create(env_dir)
    python = env_dir / "bin" / "python"
    inner = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout.strip()
    outer = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    (Path(inner) / "outer-environment.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in dict.fromkeys(outer)) + "\n")
    install = _run([python, "-m", "pip", "install", "--no-index", "-c", ROOT / "constraints.txt", wheel], tmp_path)
    # nothing already installed was touched: no torch download, no uninstall (pip's own words)
    assert "Uninstalling" not in install.stdout and "Collecting torch" not in install.stdout, install.stdout
    assert "Successfully installed nbtrainer-" in install.stdout

    where = _run([python, "-c", "import nbtrainer, torch; print(nbtrainer.__file__); print(torch.__version__)"],
                 tmp_path).stdout.split()
    assert Path(where[0]).is_relative_to(env_dir), f"nbtrainer imported from {where[0]}, not from the wheel"
    import torch
    assert where[1] == torch.__version__  # the torch that was there

    out = tmp_path / "out"
    run = _run([env_dir / "bin" / "nbtrainer", "run", "--limit", "150", "--size", "32", "--final-size", "0",
                "--aug-cycles", "1", "--unfrozen-cycles", "1", "--tta", "1", "--lr-find-iters", "20",
                "--unfrozen-lr-find-iters", "10", "--out", out, "--no-progress"], tmp_path)
    assert "validation accuracy:" in run.stdout
    assert (out / "checkpoint.pt").is_file() and (out / "metrics.json").is_file()
