"""What every submission must keep true: the README's two commands, CI running the test one, the pins."""
from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    head = (ROOT / "README.md").read_text().splitlines()[:12]
    return [line for line in head if line.startswith("pip install")]


def test_readme_starts_with_the_run_and_the_test_command():
    run, test = readme_commands()
    assert run == "pip install -e . && nbtrainer run"
    assert test.startswith('pip install -e ".[test]"') and "pytest" in test


def test_ci_runs_the_readme_test_command():
    found = subprocess.run(["grep", "-m1", "-E", r'^pip install -e "\.\[test\]"', "README.md"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert found == readme_commands()[1]
    assert "grep -m1 -E '^pip install -e \"\\.\\[test\\]\"' README.md" in (ROOT / ".ci" / "run").read_text()


def test_torch_pair_is_pinned_and_the_console_script_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = set(project["dependencies"])
    assert {"torch==2.14.1", "torchvision==0.29.1"} <= pins
    assert project["scripts"]["nbtrainer"] == "nbtrainer.cli:main"


def test_the_engine_never_imports_widget_libraries():
    engine = [p for p in (ROOT / "nbtrainer").rglob("*.py") if "widget" not in p.parts]
    offenders = [p.name for p in engine if re.search(r"^\s*(import|from)\s+(ipywidgets|bqplot)", p.read_text(), re.M)]
    assert offenders == []


def test_binder_pins_agree_with_pyproject():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            (version,) = [s.version for s in req.specifier if s.operator == "=="]
            pins[canonicalize_name(req.name)] = version
    for dependency in project["dependencies"] + project["optional-dependencies"]["app"]:  # the app runs there
        req = Requirement(dependency)
        name = canonicalize_name(req.name)
        assert name in pins, f"binder/requirements.txt does not pin {req.name}"
        assert req.specifier.contains(pins[name], prereleases=True), f"binder pins {name}=={pins[name]}; pyproject: {req}"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
    assert "pip install --no-deps -e ." in (ROOT / "binder" / "postBuild").read_text()
