"""The "Your pictures" tab's and the cleaner's actions of :class:`~nbtrainer.widget.model.TrainerModel` (a mixin: it uses the
model's lock, traits and messages, each change through its ``write``). The work is the engine's (:mod:`nbtrainer.data.overview`,
:mod:`~nbtrainer.data.uploads`, :mod:`~nbtrainer.data.cleaner`, :meth:`Checklist.with_data`); here it is only
asked for, confirmed and reported.

Everything that writes files or replaces the learner **asks first**: the action is kept as ``_pending`` and
described in the ``confirm`` trait; :meth:`DataActions.answer` (the Yes / Cancel buttons) runs or drops it.
Writes stay inside the data folder and can be undone (:meth:`DataActions.undo_edit`). All of it is refused
while a step runs (the step trains on the data).

Example::

    model.upload("cats", [("tom.jpg", jpeg_bytes)])   # asks: model.confirm["text"]
    model.answer(True)                                  # saved into <data_root>/cats/
    model.use_folder(model.data_root); model.answer(True)   # the checklist starts again on the new images
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from ..data.cleaner import Cleaner
from ..data.edits import FolderEdits
from ..data.journal import HIDDEN
from ..data.overview import augmentation_preview, class_counts, samples
from ..data.scan import list_images
from ..data.sources import BadImageError
from ..data.uploads import add_images, check_class_name, load_folder
from ..datasets import SETS, DatasetError, load


class DataActions:
    """Mixin for TrainerModel: show the data, use a folder, upload, clean, undo; each write confirmed."""

    _pending: tuple[str, Callable[[], None]] | None = None

    def show_data(self, seed: int = 0) -> None:
        """Publish the data's class counts, 4 images per class and one image under 7 augmentations drawn
        with ``seed`` (:mod:`nbtrainer.data.overview`); reads the data only, so it runs even during a step."""
        data = self.learn.data
        try:
            overview = {"counts": class_counts(data).rows(), "samples": samples(data, per_class=4),
                        "preview": augmentation_preview(data, index=0, n=8, seed=seed), "aug": data.aug.to_dict()}
        except (OSError, BadImageError, ValueError) as e:
            overview = {"error": f"cannot show the data: {self.places.hide(str(e))}"}
        self.write(data_overview={**overview, "seq": next(self._seq)})

    def _busy_with_the_data(self) -> bool:
        """True (and said) while a step runs: it trains on this data, which must not change under it."""
        if self.busy:
            self.write(message="wait for the running step to finish (or press Stop in 2. Train): it trains on this data")
        return self.busy

    # ------------------------------------------------------------------ asking first
    def _ask(self, text: str, action: Callable[[], None]) -> bool:
        """Put the question ``text`` to the student; ``action`` runs on Yes. False: refused (a step runs)."""
        with self._lock:
            if self._busy_with_the_data():
                return False
            self._pending = (text, action)
            self.write(confirm={"text": text, "seq": next(self._seq)})
            return True

    def answer(self, yes: bool) -> None:
        """The user's answer to :attr:`confirm`: run the pending action, or drop it."""
        with self._lock:
            pending, self._pending = self._pending, None
            self.write(confirm={})
            if pending is None:
                return
            if not yes:
                self.write(message="cancelled: nothing was changed")
                return
            if self.busy:
                self.write(message="a step started meanwhile: nothing was changed")
                return
            try:
                pending[1]()
            except (OSError, ValueError) as e:  # a refused path, a missing file: said, nothing half done
                self.write(message=f"{type(e).__name__}: {self.places.hide(str(e))}")

    # ------------------------------------------------------------------ new data
    def shown(self, path: str | Path) -> str:
        """``path`` as the student sees it: relative to the session folder (never the server's folders)."""
        return self.places.shown(path)

    def use_folder(self, path: str) -> None:
        """Check ``path`` (one sub-folder of images per class; only a folder of :attr:`places`), reading it on
        the worker thread (a large folder never blocks the kernel), then ask to start the checklist again on it."""
        try:
            folder = self.places.resolve(path)
        except ValueError as e:  # says where folders may be, not what is at ``path``
            self.write(message=f"cannot use that folder: {e}")
            return
        self._start(self._check_folder, folder)

    def _check_folder(self, folder: Path) -> Callable[[], None] | None:
        """The worker's job: read the folder; its follow-up asks whether to train on it."""
        recovered = []
        self.write(message=f"reading '{self.shown(folder)}'...")  # on the worker: before its answer, never after
        try:
            if self.places.writable(folder) and (folder / HIDDEN).is_dir():  # a change a crash cut short: put right
                recovered = FolderEdits(folder).recovered
            data, note = load_folder(folder, self.learn.data)
        except (OSError, ValueError) as e:
            self.write(message=f"cannot use '{self.shown(folder)}': {self.places.hide(str(e))}")
            return None
        counts = ", ".join(f"{c}: {t + v}" for c, t, v in class_counts(data).rows())
        note = " ".join([*(m[0].upper() + m[1:] + "." for m in recovered),
                         *([f"Note: {self.places.hide(note)}"] if note else [])])
        note = " " + note if note else ""
        text = (f"Train on '{self.shown(folder)}' ({len(data.train) + len(data.valid)} images; {counts})? The "
                f"checklist starts again from step 1 on the new images.{note}")
        return lambda: self._ask(text, lambda: self._use(data, self.shown(folder)))

    def use_dataset(self, name: str, root: str | Path | None = None) -> None:
        """Get the standard set ``name`` (:mod:`nbtrainer.datasets`: downloaded the first time, on the worker
        thread; ``root``: its cache folder), then ask to start the checklist again on it."""
        if name not in SETS:
            self.write(message=f"unknown data set {name!r}: expected one of {list(SETS)}")
            return
        self.write(message=f"getting {SETS[name].title} (the first time downloads it: {SETS[name].about})")
        self._start(self._get_dataset, (name, root))

    def _get_dataset(self, job: tuple[str, str | Path | None]) -> Callable[[], None] | None:
        """The worker's job: get the set; its follow-up asks whether to train on it."""
        name, root = job
        title = SETS[name].title
        try:
            data = load(name, root=root, bs=self.learn.data.bs, seed=self.learn.data.seed)
        except (DatasetError, OSError, ValueError) as e:
            self.write(message=f"cannot use {title}: {self.places.hide(str(e))}")
            return None
        text = (f"Train on {title} ({data.counts()}, {data.c} classes)? "
                f"The checklist starts again from step 1 on these images.")
        return lambda: self._ask(text, lambda: self._use(data, title))

    def _use(self, data, path: str) -> None:
        steps = self.checklist.checkpoint_dir
        folder = None if steps is None else steps.parent / f"checkpoints-{next(self._seq)}"
        self.replace(self.checklist.with_data(data, checkpoint_dir=folder))
        shared = data.root is not None and not self.places.writable(data.root)
        own = data.root is not None and not shared  # a standard set is not a folder to add to or clean
        root = str(data.root) if own else self.data_root
        self.write(data_root=root, message=f"now training on '{path}': the checklist starts again" + (
            f" (a shared folder, read only: pictures you add go to '{self.shown(root)}')" if shared else ""))
        self.show_data()

    # ------------------------------------------------------------------ writing the data folder
    def upload(self, class_name: str, files: Iterable[tuple[str, bytes]]) -> bool:
        """Ask, then save ``files`` (name, bytes) as images of ``class_name`` in :attr:`data_root`. Returns
        whether it asked (False: refused, with a message)."""
        files = list(files)
        try:
            check_class_name(class_name)
        except ValueError as e:
            self.write(message=str(e))
            return False
        if not files:
            self.write(message="choose some pictures (or take them with the camera) first")
            return False
        text = f"Save {len(files)} file(s) as class '{class_name}' into '{self.shown(self.data_root)}'?"
        return self._ask(text, lambda: self._upload(class_name, files))

    def _upload(self, class_name: str, files: list[tuple[str, bytes]]) -> None:
        Path(self.data_root).mkdir(parents=True, exist_ok=True)
        result = add_images(self.data_root, class_name, files)
        made = ", ".join(f"{name} {len(images)}" for name, images in sorted(list_images(Path(self.data_root)).items())
                         if images)  # the classes the student has made so far, with their pictures
        self.write(message=f"{result.message()} in '{class_name}'. Your classes so far: {made}. Undo takes them "
                           "back; 'Train on this folder' starts the checklist on it.")

    def clean(self, decisions: Mapping[int, str]) -> None:
        """Ask, then apply the cleaner's ``decisions`` (validation index -> keep / delete / a class)."""
        root = self.learn.data.root
        if root is not None and not self.places.writable(root):
            self.write(message=f"'{self.shown(root)}' is shared with the whole class (read only): the cleaner "
                               "changes only folders of your own session")
            return
        try:
            cleaner = Cleaner(self.learn.data)
            lines = cleaner.describe(decisions)
        except ValueError as e:
            self.write(message=str(e))
            return
        if not lines:
            self.write(message="nothing to change: every image is kept in its class")
            return
        text = f"Apply {len(lines)} change(s) in '{self.shown(cleaner.edits.root)}'? " + "; ".join(lines)
        self._ask(text, lambda: self._clean(cleaner, decisions))

    def _clean(self, cleaner: Cleaner, decisions: Mapping[int, str]) -> None:
        cleaner.apply(decisions)
        self.write(data_root=str(cleaner.edits.root), edits=self.edits + 1,
                   message="changed the files (Undo puts them back); the learner still has the old list of images: "
                           "'Train on this folder' starts the checklist on the cleaned folder")

    def undo_edit(self) -> None:
        """Ask, then undo the last upload or clean-up in :attr:`data_root`; first says what opening the folder
        put right (a change or an undo cut short by a crash)."""
        if self._busy_with_the_data():  # opening the folder may put right a change a crash cut short
            return
        root = Path(self.data_root)
        edits = FolderEdits(root) if root.is_dir() else None
        batches = edits.batches() if edits else []
        said = " ".join(m[0].upper() + m[1:] + "." for m in (edits.recovered if edits else []))
        if not batches:
            self.write(message=(said + " " if said else "") + f"nothing to undo in '{self.shown(root)}'")
            return
        what = edits.summary(batches[-1].journal)
        self._ask(f"{said + ' ' if said else ''}Undo the last change in '{self.shown(root)}' ({what})?",
                  lambda: self._undo(root))

    def _undo(self, root: Path) -> None:
        edits = FolderEdits(root)
        edits.undo()
        problems = f" ({'; '.join(edits.undo_problems)})" if edits.undo_problems else ""
        self.write(edits=self.edits + 1, message=f"undone: the files of the last change in '{self.shown(root)}' are back as they were; "
                           f"what it had added is in the folder's trash (.nbtrainer){problems}")
