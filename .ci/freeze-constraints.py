"""Write constraints.txt: the exact versions installed here of everything nbtrainer and its extras need
(the whole dependency closure, read from the installed packages' metadata), i.e. the tested set.

Run after the suite passed: ``python .ci/freeze-constraints.py`` (with ``pip install -e ".[test,app,bench]"``
done). Why by hand: ``pip freeze`` lists every package of the machine, and pip-tools' ``pip-compile``
resolves anew from the index (the newest versions, not the ones the tests ran with); this walks only
nbtrainer's own closure and pins what is installed.
"""
from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

EXTRAS = ("test", "app", "bench")
HEADER = """\
# The tested set: the versions the whole suite passed with (Python 3.11, Linux x86_64, CPU), written by
# `python .ci/freeze-constraints.py`. pyproject.toml declares ranges; this file pins them for CI, Binder and
# the README's commands: pip install -e ".[test]" -c constraints.txt
"""


def closure(root: str, extras: tuple[str, ...]) -> dict[str, str]:
    """Every distribution ``root[extras]`` needs, transitively (markers evaluated here), name -> version."""
    found: dict[str, str] = {}
    todo = [(root, extras)]
    while todo:
        name, wanted = todo.pop()
        dist = metadata.distribution(name)
        for text in dist.requires or []:
            req = Requirement(text)
            ok = [req.marker is None] + [req.marker.evaluate({**default_environment(), "extra": e})
                                         for e in ("", *wanted) if req.marker is not None]
            key = canonicalize_name(req.name)
            if any(ok) and key not in found:
                try:
                    found[key] = metadata.version(req.name)
                except metadata.PackageNotFoundError:  # optional on this platform
                    continue
                todo.append((req.name, tuple(req.extras)))
    return found


if __name__ == "__main__":
    pins = closure("nbtrainer", EXTRAS)
    pins["build"] = metadata.version("build")  # the wheel test (tests/test_wheel.py)
    pins.pop("nbtrainer", None)
    lines = [f"{name}=={version}" for name, version in sorted(pins.items())]
    out = Path(__file__).resolve().parents[1] / "constraints.txt"
    out.write_text(HEADER + "\n".join(lines) + "\n")
    print(f"{out}: {len(lines)} pins")
