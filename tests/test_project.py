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
    assert run == "pip install -e . -c constraints.txt && nbtrainer run"
    assert test.startswith('pip install -e ".[test]" -c constraints.txt') and "pytest" in test


def test_ci_runs_the_readme_test_command():
    found = subprocess.run(["grep", "-m1", "-E", r'^pip install -e "\.\[test\]"', "README.md"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert found == readme_commands()[1]
    assert "grep -m1 -E '^pip install -e \"\\.\\[test\\]\"' README.md" in (ROOT / ".ci" / "run").read_text()


def _pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements or constraints file, by canonical name."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            (version,) = [s.version for s in req.specifier if s.operator == "=="]
            pins[canonicalize_name(req.name)] = version
    return pins


def test_dependencies_are_ranges_pinned_only_in_the_constraints():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["nbtrainer"] == "nbtrainer.cli:main"
    pins = _pins(ROOT / "constraints.txt")
    extras = project["optional-dependencies"]
    for dependency in project["dependencies"] + extras["test"] + extras["app"] + extras["bench"]:
        req = Requirement(dependency)
        name = canonicalize_name(req.name)
        if name in ("torch", "torchvision"):  # a library declares ranges: it must not replace the user's torch
            assert not any(s.operator == "==" for s in req.specifier) and req.specifier, dependency
        assert name in pins, f"constraints.txt does not pin {req.name}"
        assert req.specifier.contains(pins[name], prereleases=True), f"constraints pin {name}=={pins[name]}; {req}"
    import torch
    assert torch.__version__.split("+")[0] == pins["torch"]  # the tested set is the one installed here


def test_the_engine_never_imports_widget_libraries():
    engine = [p for p in (ROOT / "nbtrainer").rglob("*.py") if "widget" not in p.parts]
    offenders = [p.name for p in engine if re.search(r"^\s*(import|from)\s+(ipywidgets|bqplot)", p.read_text(), re.M)]
    assert offenders == []


def test_binder_pins_are_the_constraints():
    binder = _pins(ROOT / "binder" / "requirements.txt")
    constraints = _pins(ROOT / "constraints.txt")
    assert binder and all(constraints[name] == version for name, version in binder.items()), binder
    post = (ROOT / "binder" / "postBuild").read_text()
    assert '-c constraints.txt -e ".[app]"' in post and "--extra-index-url https://download.pytorch.org/whl/cpu" in post
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
