"""The package's layers and their import direction: widget -> report -> recipe -> results -> train -> model, data.

Each subpackage may import its own modules and those of the layers below it, never one above it (lazy
imports inside functions included); ``checks``, ``distributed`` (processes and devices), ``cpu_queue`` (turns
at a shared CPU) and ``present`` (tables, figures, plots, texts) are below everything; ``datasets`` (standard
sets, made into ImageData) sits beside ``train``; ``export`` (the trained model as files that run without
nbtrainer: ``torch.export``, ONNX, a web page) between ``data`` and the ``train`` whose learner calls it; ``report`` (the report folder and page) above the recipe it
reports, below ``widget`` (the app's Report download); ``cli`` and the package root are on top. A layer below the recipe never reads the
recipe's step results by their keys either (an upward dependency no import shows).
"""
from __future__ import annotations

import ast
from pathlib import Path

import nbtrainer

PACKAGE = Path(nbtrainer.__file__).parent
LAYERS = {"checks": 0, "distributed": 0, "present": 0, "cpu_queue": 0, "data": 1, "datasets": 2, "model": 1,
          "export": 1.5, "train": 2,
          "results": 3, "recipe": 4, "report": 5, "widget": 6, "cli": 7, "__init__": 8, "__main__": 8}


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


def _str_keys(tree: ast.AST) -> tuple[set[str], set[str]]:
    """The string keys ``tree`` reads (``x["k"]``, ``x.get("k")``) and those it writes (dict literals,
    ``x["k"] = ...``, ``dict(k=...)``, typed fields)."""
    reads, writes = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            (writes if isinstance(node.ctx, ast.Store) else reads).add(node.slice.value)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            reads.add(node.args[0].value)
        elif isinstance(node, ast.Dict):
            writes |= {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
            writes |= {k.arg for k in node.keywords if k.arg}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            writes.add(node.target.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            writes.add(node.attr)
    return reads, writes


def _result_lookups(tree: ast.AST) -> set[str]:
    """Keys read from something named ``result`` (``step.result["kept"]``, ``x.result.get("lrs")``,
    ``row["result"]["size"]``): a step's result, whatever the key."""
    def is_result(node) -> bool:
        return ((isinstance(node, ast.Attribute) and node.attr == "result")
                or (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
                    and node.slice.value == "result"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and is_result(node.value) and isinstance(node.slice, ast.Constant):
            found.add(str(node.slice.value))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and is_result(node.func.value) and node.args and isinstance(node.args[0], ast.Constant)):
            found.add(str(node.args[0].value))
    return found


def _step_result_reads(package: Path) -> list[str]:
    """Modules below the recipe that read a step's result (a key read from a ``result``), or a key only the
    recipe's step results have (no layer below the recipe writes it): the recipe's data read from below."""
    keys = _str_keys(ast.parse((package / "recipe" / "results.py").read_text()))[1]
    below = [p for p in package.rglob("*.py")
             if LAYERS[p.relative_to(package).parts[0].removesuffix(".py")] < LAYERS["recipe"]]
    trees = {p: ast.parse(p.read_text()) for p in below}
    written_below = set().union(*(_str_keys(tree)[1] for tree in trees.values()))
    wrong = []
    for p, tree in trees.items():
        foreign = ((_str_keys(tree)[0] & keys) - written_below) | _result_lookups(tree)
        wrong += [f"{p.relative_to(package)} reads the step result key {k!r}" for k in sorted(foreign)]
    return wrong


def test_no_layer_below_the_recipe_reads_its_step_results_by_key():
    assert not _step_result_reads(PACKAGE), "\n".join(_step_result_reads(PACKAGE))


def test_the_check_sees_a_step_result_read_from_below(tmp_path):
    import shutil

    fake = tmp_path / "nbtrainer"
    shutil.copytree(PACKAGE, fake, ignore=shutil.ignore_patterns("__pycache__"))
    (fake / "results" / "table.py").write_text("def kept(step, r):\n    return step.result['kept'], "
                                             "step.result.get('lrs'), r['chosen']\n")
    assert _step_result_reads(fake) == ["results/table.py reads the step result key 'chosen'",
                                        "results/table.py reads the step result key 'kept'",
                                        "results/table.py reads the step result key 'lrs'"]
