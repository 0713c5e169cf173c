"""The package's layers and their import direction: widget -> recipe -> results -> train -> model, data.

Each subpackage may import its own modules and those of the layers below it, never one above it (lazy
imports inside functions included); ``checks``, ``distributed`` (processes and devices), ``cpu_queue`` (turns
at a shared CPU) and ``html`` (the reprs' tables and inline figures) are below everything; ``datasets`` (standard sets, made into ImageData)
sits beside ``train``; ``cli`` and the package root are on top.
"""
from __future__ import annotations

import ast
from pathlib import Path

import nbtrainer

PACKAGE = Path(nbtrainer.__file__).parent
LAYERS = {"checks": 0, "distributed": 0, "html": 0, "cpu_queue": 0, "data": 1, "datasets": 2, "model": 1, "train": 2, "results": 3, "recipe": 4, "widget": 5, "cli": 6,
          "__init__": 7, "__main__": 7}


def _layer(module: str) -> str:
    """``nbtrainer.train.learner`` -> ``train``; ``nbtrainer`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[str]:
    """Absolute names of the nbtrainer modules that ``path`` imports."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.rpartition(".")[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("nbtrainer"):
                found += [f"{target}.{a.name}" if target.count(".") < 1 else target for a in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("nbtrainer")]
    return found


def test_every_module_is_in_a_layer():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        name = rel.parts[0].removesuffix(".py")
        assert name in LAYERS, f"{rel}: not in a layer; add it to a subpackage (or LAYERS)"


def test_imports_go_down_the_layers_only():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        own = _layer(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for target in _imports(path):
            other = _layer(target)
            if other != own and LAYERS[other] >= LAYERS[own]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {target} ({own} -> {other})")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_wrong_import(tmp_path, monkeypatch):
    # the checker itself: an import from the widget in the engine is reported
    fake = tmp_path / "nbtrainer" / "train"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("from ..widget import Trainer\nfrom .learner import Learner\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path / "nbtrainer")
    assert _imports(fake / "bad.py") == ["nbtrainer.widget", "nbtrainer.train.learner"]
    assert _layer("nbtrainer.widget") == "widget" and LAYERS["widget"] > LAYERS["train"]
