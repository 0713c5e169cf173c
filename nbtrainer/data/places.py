"""Which folders an app session may read and write: its own session folder, and the roots the deployer allows
(by default also a bundled example folder). A student types a folder as the app shows it (``data``, or
``example-images/digit-0``); anything else on the server (``/etc/ssl``, ``../other-student``) is refused
without a word about what is there. Paths in messages are shown relative to the session folder.

Example::

    places = Places(session="nbtrainer-session/20261204-101500-ab12cd", roots=["notebooks/example-images"])
    places.resolve("data")              # <session>/data
    places.resolve("example-images")    # notebooks/example-images (resolved)
    places.resolve("/etc/ssl")          # ValueError: not a folder this app may use
    places.shown(places.session / "data" / "cat")   # 'data/cat'
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePath

ROOTS_VARIABLE = "NBTRAINER_DATA_ROOTS"  # more roots, separated by os.pathsep, set by whoever runs the server


class Places:
    """The session folder and the allowed roots (each resolved once: links are followed before checking); only
the session folder and the ``writable`` roots may be changed."""

    def __init__(self, session: str | os.PathLike, roots: Iterable[str | os.PathLike] = (),
                 writable: Iterable[str | os.PathLike] = ()):
        self.session = Path(session).resolve()
        extra = [r for r in os.environ.get(ROOTS_VARIABLE, "").split(os.pathsep) if r]
        shared = [Path(r).resolve() for r in (*roots, *extra)]
        # a folder under a shared root stays read only, even when it is the learner's own
        self.writable_roots = [w for w in (Path(r).resolve() for r in writable)
                               if not any(w == r or w.is_relative_to(r) for r in shared)]
        self.roots = shared + self.writable_roots

    def writable(self, path: str | os.PathLike) -> bool:
        """May uploads and the cleaner change ``path``? Only inside the session folder (or a ``writable`` root,
        e.g. the teacher's own data folder); the other roots are shared with every student: read only."""
        full = Path(path).resolve()
        return any(full == base or full.is_relative_to(base) for base in (self.session, *self.writable_roots))

    def allowed(self) -> str:
        """The places a student may use, as the app shows them."""
        return ", ".join(["your session folder (e.g. 'data')"] + [f"'{self.label(r)}'" for r in self.roots])

    def resolve(self, text: str | os.PathLike) -> Path:
        """The folder ``text`` names: relative to the session folder, or starting with an allowed root's name,
        or an absolute path inside one of them; ValueError otherwise (saying only where folders may be)."""
        raw = str(text).strip()
        if not raw:
            raise ValueError(f"type a folder: one of {self.allowed()}")
        p = PurePath(os.path.expanduser(raw))
        if p.is_absolute():
            candidates = [Path(p)]
        else:  # the session's own folder first: a root that happens to share a name never hides the student's
            own = self.session / p
            shared = [r / Path(*p.parts[1:]) for r in self.roots if p.parts and p.parts[0] in (r.name, self.label(r))]
            candidates = [own, *shared] if own.exists() else [*shared, own]
        for c in candidates:
            full = c.resolve()
            if any(full == base or full.is_relative_to(base) for base in (self.session, *self.roots)):
                return full
        raise ValueError(f"'{raw}' is not a folder this app may use: expected a folder inside {self.allowed()}")

    def shown(self, path: str | os.PathLike) -> str:
        """``path`` as the app shows it: relative to the session folder, else from its root's name; a path
        outside them all shows only its last name (never the server's folders)."""
        full = Path(path).resolve()
        if full == self.session:
            return "."
        if full.is_relative_to(self.session):
            return full.relative_to(self.session).as_posix()
        for r in self.roots:
            if full == r or full.is_relative_to(r):
                return (PurePath(self.label(r)) / full.relative_to(r)).as_posix()
        return full.name

    def label(self, root: Path) -> str:
        """How the app names an allowed root: its folder's name, marked "(shared)" when the session has an
        entry of that name (never its place on the server). :meth:`resolve` takes either."""
        return f"{root.name} (shared)" if (self.session / root.name).exists() else root.name

    def hide(self, text: str) -> str:
        """``text`` (an error message) with the session folder and the roots written as the app shows them."""
        for base, shown in sorted([(str(self.session), "."), *((str(r), self.label(r)) for r in self.roots)],
                                  key=lambda bs: -len(bs[0])):
            text = text.replace(base + os.sep, "" if shown == "." else shown + "/").replace(base, shown)
        return text
