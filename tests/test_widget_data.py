"""The classroom flow of the widget, driven as a student drives it (no browser): make classes, upload pictures
through the Pictures button (its messages, as the browser sends them), train on them after a confirmation, clean labels from the top losses, undo; every
write asks first and the files on disk are checked."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from nbtrainer.widget import Trainer

from .conftest import FAST_RECIPE as FAST, small_learner


def picture(kind: str, i: int) -> bytes:
    """A red-ish or a blue-ish 40 px picture with a little noise (two classes a model tells apart at once)."""
    rng = np.random.default_rng(i)
    base = np.array([200, 40, 40] if kind == "red" else [40, 40, 200], dtype=float)
    pixels = np.clip(base + rng.normal(0, 25, (40, 40, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def choose_files(upload, files: list[tuple[str, bytes]]) -> None:
    """The messages the browser's "Pictures" button sends when files are chosen (picture_upload.py's script:
    a start, one message per file with its bytes as a buffer, an end)."""
    upload._receive(upload, {"kind": "start", "count": len(files)}, [])
    for i, (name, data) in enumerate(files):
        upload._receive(upload, {"kind": "file", "name": name, "index": i}, [memoryview(data)])
    upload._receive(upload, {"kind": "end", "count": len(files)}, [])


def add_class(trainer: Trainer, name: str, files: list[tuple[str, bytes]], answer: bool = True) -> None:
    view = trainer.data_view
    view.class_name.value = name
    choose_files(view.files, files)
    next(b for b in _buttons(view) if "nbt-add-images" in b._dom_classes).click()
    assert trainer.model.confirm["text"].startswith(f"Save {len(files)} file(s) as class '{name}'")
    (trainer.confirm.yes if answer else trainer.confirm.no).click()
    assert trainer.model.confirm == {}


def _buttons(widget):
    for child in getattr(widget, "children", ()):
        if hasattr(child, "on_click"):
            yield child
        yield from _buttons(child)


def press(view, css: str) -> None:
    next(b for b in _buttons(view) if css in b._dom_classes).click()


def test_students_make_classes_upload_train_clean_and_undo(tmp_path):
    trainer = Trainer(small_learner(n=100), folder=tmp_path / "session", **FAST)
    root = tmp_path / "session" / "data"
    pages = trainer.pages  # Teachable Machine's order, the students' pictures first and on show at the start
    assert trainer.page_choice._options_labels == ("1. Your pictures", "2. Train", "3. Check mistakes", "4. Try it")
    assert pages.selected_index == 0 and pages.children[0] is trainer.data_view
    assert trainer.data_view.children[1].children[0] is trainer.data_view.class_name  # a class name comes first
    assert trainer.data_view.folder.value == "data"  # as the student sees it: inside their session folder
    add_class(trainer, "red", [(f"r{i}.png", picture("red", i)) for i in range(8)] + [("notes.txt", b"hi")])
    assert sorted(p.name for p in (root / "red").iterdir()) == [f"r{i}.png" for i in range(8)]
    assert "left out: 'notes.txt' (not an image file" in trainer.data_view.message.value
    assert "Your classes so far: red 8." in trainer.data_view.message.value and trainer.data_view.class_name.value == ""
    add_class(trainer, "blue", [(f"b{i}.png", picture("blue", i)) for i in range(8)], answer=False)
    assert not (root / "blue").exists() and "cancelled" in trainer.model.message  # Cancel writes nothing
    add_class(trainer, "blue", [(f"b{i}.png", picture("blue", i)) for i in range(8)])

    old_panel = trainer.panel
    press(trainer.data_view, "nbt-use-folder")
    assert trainer.model.worker.join(60)  # the folder is read on the worker thread
    assert "Train on 'data'" in trainer.model.confirm["text"] and "blue: 8, red: 8" in trainer.model.confirm["text"]
    trainer.confirm.yes.click()
    learn = trainer.model.learn
    assert learn.data.classes == ["blue", "red"] and trainer.panel is not old_panel
    assert trainer.page_choice.value == pages.selected_index == 1 and trainer.panel in pages.children[1].children[1].children[0].children
    assert trainer.model.statuses == ["pending"] * len(trainer.model.statuses)
    for i in range(3):                                  # precompute, lr_find, the head: trained on their images
        trainer.panel.rows[i].run.click()
        assert trainer.model.worker.join(120)
    assert trainer.model.statuses[:3] == ["done"] * 3 and trainer.model.checklist.steps[2].result["accuracy"] > 0.5
    try_it = trainer.predictor  # "4. Try it": one picture through its picker, then one refused in the browser
    choose_files(try_it.upload, [("new.png", picture("red", 99))])
    label, _ = learn.predict(picture("red", 99))
    assert try_it.result.value.startswith(f"<b>{label}</b>") and try_it.image.layout.display is None
    try_it.upload._receive(try_it.upload, {"kind": "refused", "big": [["phone.jpg", 9 << 20]], "total": 9 << 20,
                                          "count": 1}, [])
    assert "not sent: 1 picture(s) over 8 MB" in try_it.result.value and try_it.image.layout.display == "none"

    trainer.interpretation.button.click()
    assert trainer.model.worker.join(120)
    (move, delete), choices = list(trainer.interpretation.choices)[:2], trainer.interpretation.choices
    moved_from = learn.data.valid.source.path(learn.data.valid.indices[move])
    deleted = learn.data.valid.source.path(learn.data.valid.indices[delete])
    other = next(c for c in learn.data.classes if f"/{c}/" not in moved_from)
    choices[move].value, choices[delete].value = other, "delete"
    before = {p: p.read_bytes() for p in root.rglob("*.png")}
    trainer.interpretation.apply.click()
    assert "Apply 2 change(s)" in trainer.model.confirm["text"]
    assert trainer.clean_confirm.layout.display is None and trainer.clean_confirm in trainer.interpretation.children
    trainer.clean_confirm.yes.click()
    name = moved_from.rsplit("/", 1)[1]
    assert (root / other / name).is_file() and not (root / moved_from).exists() and not (root / deleted).exists()
    trainer.interpretation.undo.click()
    trainer.clean_confirm.yes.click()
    assert {p: p.read_bytes() for p in root.rglob("*.png")} == before  # every file back as it was


def test_nothing_is_written_or_replaced_while_a_step_runs(tmp_path):
    trainer = Trainer(small_learner(n=100), folder=tmp_path, **FAST)
    trainer.model.busy = True  # as during a step
    add_files = [("r.png", picture("red", 0))]
    trainer.data_view.class_name.value = "red"
    choose_files(trainer.data_view.files, add_files)
    press(trainer.data_view, "nbt-add-images")
    assert trainer.model.confirm == {} and "wait for the running step" in trainer.model.message
    assert not (tmp_path / "data").exists()


def test_a_bad_folder_and_bad_class_names_are_explained(tmp_path):
    trainer = Trainer(small_learner(n=100), folder=tmp_path, **FAST)
    trainer.data_view.folder.value = "nowhere"
    press(trainer.data_view, "nbt-use-folder")
    assert trainer.model.worker.join(60)
    assert "cannot use 'nowhere'" in trainer.model.message and "does not exist" in trainer.model.message
    assert str(tmp_path) not in trainer.model.message  # no server path in a message
    trainer.data_view.class_name.value = "../up"
    choose_files(trainer.data_view.files, [("r.png", picture("red", 0))])
    press(trainer.data_view, "nbt-add-images")
    assert "class name '../up'" in trainer.model.message and trainer.model.confirm == {}


def test_augmentation_settings_redraw_the_preview_and_reach_the_script_and_back(tmp_path):
    import pytest

    import nbtrainer as nbt

    learn = small_learner(n=100)
    trainer = Trainer(learn, folder=tmp_path, **FAST)
    trainer.panel.rows[0].run.click()
    assert trainer.model.worker.join(120)
    trainer.data_view.refresh.click()
    plain = [img.value for img in trainer.data_view.preview.children]
    for name in ("max_rotate", "max_zoom", "max_translate", "max_lighting"):
        trainer.data_view.aug_controls[name].value = 0.0 if name != "max_zoom" else 1.0
    after = [img.value for img in trainer.data_view.preview.children]
    assert learn.data.aug == nbt.Augment(do_flip=False, max_rotate=0, max_zoom=1, max_translate=0, max_lighting=0)
    assert after != plain and len(set(after[1:])) == 1  # redrawn; every draw of "no augmentation" is alike
    assert "data.aug = nbt.Augment(do_flip=False, max_rotate=0.0, max_zoom=1.0" in trainer.model.checklist.to_script()
    trainer.panel.rows[0].back.click()                # the checkpoint after step 1 had the old settings
    assert learn.data.aug == nbt.data.image_data.DIGITS_AUG
    assert trainer.data_view.aug_controls["max_rotate"].value == 10.0
    with pytest.raises(ValueError, match=r"max_zoom=0.5: expected a number in \[1.0, 4.0\]"):
        nbt.Augment(max_zoom=0.5)


def test_a_class_trains_on_a_standard_data_set_downloaded_from_the_data_tab(tmp_path, monkeypatch):
    from .test_datasets import Server, imagenette

    server = Server()
    try:
        server.files = imagenette(monkeypatch, server.url)
        monkeypatch.setenv("NBTRAINER_DATA", str(tmp_path / "cache"))
        trainer = Trainer(small_learner(n=100), folder=tmp_path / "session", **FAST)
        root_before = trainer.model.data_root
        view = trainer.data_view
        view.dataset.value = "imagenette"
        press(view, "nbt-use-dataset")
        assert trainer.model.worker.join(120)  # downloaded and read on the worker thread
        assert trainer.model.confirm["text"].startswith("Train on Imagenette (160 px) (6 train / 2 valid / 4 test images, "
                                                        "2 classes)?")
        assert (tmp_path / "cache" / "imagenette" / "imagenette2-160" / "train").is_dir()
        trainer.confirm.yes.click()
        assert trainer.model.learn.data.classes == ["tench", "church"]
        assert all(s.status == "pending" for s in trainer.model.checklist.steps)
        assert trainer.model.data_root == root_before  # uploads still go to the session's own folder
        trainer.model.run(0)
        assert trainer.model.worker.join(120) and trainer.model.checklist.steps[0].status == "done"

        server.files = {}  # a set that cannot be downloaded: said, nothing changes
        monkeypatch.setenv("NBTRAINER_DATA", str(tmp_path / "empty"))
        view.dataset.value = "imagenette"
        press(view, "nbt-use-dataset")
        assert trainer.model.worker.join(120)
        assert trainer.model.confirm == {} and "cannot use Imagenette (160 px): could not download" in view.message.value
        assert trainer.model.learn.data.classes == ["tench", "church"]
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def test_the_kernel_refuses_pictures_over_the_limits_even_if_a_page_sent_them(tmp_path):
    """The browser checks the sizes before sending; a changed page could send more: the kernel checks again."""
    from nbtrainer.widget.picture_upload import PictureUpload

    said = []
    upload = PictureUpload(on_refused=said.append)
    upload.max_file, upload.max_total = 1000, 1500
    choose_files(upload, [("small.png", b"x" * 500), ("big.png", b"x" * 1200)])
    assert upload.files == [] and upload.count == 0 and "'big.png'" in said[-1]
    choose_files(upload, [("a.png", b"x" * 900), ("b.png", b"x" * 900)])
    assert upload.files == [] and said[-1].startswith("not sent: 2 pictures")
    choose_files(upload, [("a.png", b"x" * 900)])
    assert upload.count == 1 and len(said) == 2
