"""Interpretation against predictions counted by hand; single-image predict; the predict CLI; the exported
artifact, loaded in a process that does not import nbtrainer."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import nbtrainer as nbt
from nbtrainer.cli import main

from .conftest import digit_png, small_learner


@pytest.fixture(scope="module")
def trained():
    learn = small_learner(n=120)
    learn.fit(2e-3, n_cycle=2)  # an AdamW head LR (lr_find suggests 1e-3 to 2e-3 on the digits)
    return learn


def test_interpretation_agrees_with_predictions_counted_by_hand(trained):
    interp = nbt.Interpretation.from_learner(trained)
    probs, targets = trained.get_preds()
    preds = probs.argmax(1)
    c = trained.data.c
    by_hand = np.zeros((c, c), dtype=int)
    for t, p in zip(targets.tolist(), preds.tolist()):
        by_hand[t, p] += 1
    assert (interp.confusion_matrix().numpy() == by_hand).all()
    for i, row in enumerate(interp.per_class()):
        hits = by_hand[i, i]
        assert row["support"] == by_hand[i].sum()
        assert row["recall"] == pytest.approx(hits / by_hand[i].sum()) if by_hand[i].sum() else np.isnan(row["recall"])
        if by_hand[:, i].sum():
            assert row["precision"] == pytest.approx(hits / by_hand[:, i].sum())
    pairs = interp.most_confused()
    assert [n for _, _, n in pairs] == sorted((n for _, _, n in pairs), reverse=True)
    assert sum(n for _, _, n in pairs) == int((preds != targets).sum())
    losses = [-float(np.log(probs[i, targets[i]])) for i in range(len(targets))]
    top = interp.top_losses(5)
    assert [r["index"] for r in top] == list(np.argsort(losses)[::-1][:5])
    assert [r["loss"] for r in top] == pytest.approx(sorted(losses, reverse=True)[:5], rel=1e-5)
    first = top[0]
    assert first["actual"] == trained.data.classes[int(targets[first["index"]])]
    assert first["predicted"] == trained.data.classes[int(preds[first["index"]])]
    image = interp.image(first["index"])
    split = trained.data.valid
    assert image.shape == (8, 8, 3) and (image[..., 0] == split.source.images[split.indices[first["index"]]][0].numpy()).all()
    json.dumps(interp.to_dict())  # plain values only


def test_tta_interpretation_uses_tta_predictions(trained):
    torch.manual_seed(0)
    interp = nbt.Interpretation.from_learner(trained, tta=True, n=2)
    torch.manual_seed(0)
    probs, _ = trained.tta(2)
    assert interp.tta and torch.equal(interp.probs, probs)


def test_predict_one_image_matches_the_validation_predictions(trained, tmp_path):
    probs, _ = trained.get_preds()
    for i in range(3):
        digit_png(trained, i, tmp_path / f"{i}.png")
        label, p = trained.predict(tmp_path / f"{i}.png")
        assert torch.allclose(p, probs[i], atol=1e-5) and label == trained.data.classes[int(probs[i].argmax())]
    label, p = trained.predict(np.asarray(Image.open(tmp_path / "0.png")))  # an array works too
    assert torch.allclose(p, probs[0], atol=1e-5)


def test_a_transparent_picture_is_read_alike_from_a_file_its_bytes_and_pil(trained, tmp_path):
    rgba = np.zeros((24, 24, 4), dtype=np.uint8)
    rgba[6:18, 10:14] = (0, 0, 0, 255)  # a black stroke on a transparent background (composited on white)
    path = tmp_path / "stroke.png"
    Image.fromarray(rgba, "RGBA").save(path)
    label, probs = trained.predict(path)
    for item in (path.read_bytes(), Image.open(path)):
        other_label, other_probs = trained.predict(item)
        assert other_label == label and torch.equal(other_probs, probs)
    assert not torch.equal(trained.predict(np.zeros((24, 24, 3), dtype=np.uint8))[1], probs)  # not black
    with pytest.raises(nbt.BadImageError, match="cannot read image 'the uploaded file'"):
        trained.predict(b"not an image")


def test_predict_refuses_what_is_not_an_image_naming_it(trained, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(nbt.BadImageError, match=r"notes\.txt' cannot be used as an image"):
        trained.predict(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match=r"missing\.png' does not exist"):
        trained.predict(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="expected a path, a PIL image or an H x W"):
        trained.predict(np.zeros((4, 4, 3), dtype=np.float32))


def test_the_predict_command_prints_a_table_and_names_a_bad_file(trained, tmp_path, capsys):
    trained.save(tmp_path / "model.pt")
    digit_png(trained, 0, tmp_path / "a.png")
    digit_png(trained, 1, tmp_path / "b.png")
    assert main(["predict", str(tmp_path / "model.pt"), str(tmp_path / "a.png"), str(tmp_path / "b.png")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["image", "prediction", "prob"] and len(out) == 3
    label, p = trained.predict(tmp_path / "a.png")
    assert out[1].split()[1] == label and float(out[1].split()[2]) == pytest.approx(float(p.max()), abs=1e-3)
    (tmp_path / "c.jpg").write_text("not an image")  # named, and the good images still get their rows (exit 1)
    assert main(["predict", str(tmp_path / "model.pt"), str(tmp_path / "a.png"), str(tmp_path / "c.jpg")]) == 1
    captured = capsys.readouterr()
    assert "c.jpg' cannot be used as an image" in captured.err and len(captured.out.splitlines()) == 2
    (tmp_path / "metrics.json").write_text("{}")  # not a model: said plainly, never torch's unsafe advice
    assert main(["predict", str(tmp_path / "metrics.json"), str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err
    assert "metrics.json' cannot be loaded safely" in err and "weights_only=False" not in err


def test_the_shareable_model_file_is_weights_only_and_predicts_like_the_learner(trained, tmp_path, capsys):
    from safetensors.torch import save_file

    path = trained.save_model(tmp_path / "digits.safetensors")
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header: JSON, then raw tensors; no pickle anywhere
    digit_png(trained, 0, tmp_path / "a.png")
    predictor = nbt.Predictor.from_file(path)
    label, probs = predictor.predict(tmp_path / "a.png")
    assert (label, predictor.classes, predictor.size) == (trained.predict(tmp_path / "a.png")[0],
                                                           trained.data.classes, trained.data.size)
    assert torch.allclose(probs, trained.predict(tmp_path / "a.png")[1], atol=1e-5)
    assert main(["predict", str(path), str(tmp_path / "a.png")]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[1] == label
    (tmp_path / "pickle.safetensors").write_bytes(b"\x80\x04K\x01.")  # not safetensors at all
    save_file({"w": torch.zeros(2)}, tmp_path / "bare.safetensors")  # safetensors without nbtrainer's config
    for bad in ("pickle", "bare"):
        with pytest.raises(ValueError, match=rf"'{tmp_path / bad}.safetensors' is not an nbtrainer model file"):
            nbt.Predictor.from_file(tmp_path / f"{bad}.safetensors")
    assert main(["predict", str(tmp_path / "bare.safetensors"), str(tmp_path / "a.png")]) == 2
    from safetensors import safe_open

    with safe_open(path, "pt") as f:  # a config naming a body nbtrainer does not have: refused before building
        config = {**json.loads(f.metadata()["nbtrainer"]), "arch": "os.system"}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    save_file(tensors, tmp_path / "arch.safetensors", metadata={"nbtrainer": json.dumps(config)})
    with pytest.raises(ValueError, match="expected one of the architectures efficientnet_lite0"):
        nbt.Predictor.from_file(tmp_path / "arch.safetensors")


LOADER = """
import json, sys
import numpy as np, torch
from PIL import Image
extra = {"nbtrainer.json": ""}
program = torch.export.load(sys.argv[1], extra_files=extra)
meta = json.loads(extra["nbtrainer.json"])
rows = []
for path in sys.argv[2:]:
    probs = program.module()(torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))))
    rows.append({"label": meta["classes"][int(probs.argmax())], "probs": probs.tolist()})
print(json.dumps({"imported_nbtrainer": "nbtrainer" in sys.modules, "rows": rows}))
"""


def test_the_exported_artifact_predicts_like_learn_predict_without_nbtrainer(trained, tmp_path):
    path = trained.export(tmp_path / "digits.pt2")
    images = []
    for i in range(4):
        digit_png(trained, i, tmp_path / f"{i}.png")
        images.append(tmp_path / f"{i}.png")
    wide = np.asarray(Image.open(images[0]).convert("RGB").resize((48, 32)))  # not square
    Image.fromarray(wide).save(tmp_path / "wide.png")
    images.append(tmp_path / "wide.png")
    done = subprocess.run([sys.executable, "-c", LOADER, str(path), *map(str, images)], capture_output=True,
                          text=True, check=True, timeout=300, cwd=tmp_path)
    result = json.loads(done.stdout)
    assert result["imported_nbtrainer"] is False
    for image, row in zip(images, result["rows"]):
        label, probs = trained.predict(image)
        assert row["label"] == label
        assert np.allclose(row["probs"], probs.numpy(), atol=1e-4)  # the same preprocessing code


def test_saving_files_under_torchrun_needs_no_other_rank(trained, tmp_path, monkeypatch):
    """Rank 0 writes the report alone (the other ranks have returned): saving must not wait on a collective."""
    from torch import distributed as dist

    from nbtrainer import distributed

    def no_collective(*args, **kwargs):
        raise AssertionError("a collective call: the other ranks are not there")

    monkeypatch.setattr(dist, "broadcast_object_list", no_collective)
    monkeypatch.setattr(dist, "barrier", no_collective)
    for rank in (0, 1):
        monkeypatch.setattr(distributed, "current", lambda rank=rank: distributed.Ranks(rank, 2))
        trained.save_model(tmp_path / f"rank{rank}.safetensors")
        trained.save(tmp_path / f"rank{rank}.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rank0.pt", "rank0.safetensors"]


def test_the_linear_probe_is_scored_on_validation_from_the_cache_with_c_chosen_on_train(make_folder, tmp_path):
    """The bar to beat (issue 28): the probe reads the activation cache and chooses C by cross-validation on the
    training images only; its score is the validation accuracy of a plain LogisticRegression at that C."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from nbtrainer.results.baseline import probe_baseline

    data = nbt.ImageData.from_folder(make_folder({"zero": 12, "one": 12, "two": 12}), size=32, valid_pct=0.25)
    learn = nbt.Learner(data, cache=nbt.ActivationCache(tmp_path / "cache"))
    learn.precompute = True
    probe = probe_baseline(learn)
    acts = learn.cache.get(learn)
    again = make_pipeline(StandardScaler(), LogisticRegression(C=probe.C, max_iter=300))
    again.fit(acts.train_x.numpy(), acts.train_y.numpy())
    assert probe.accuracy == pytest.approx(float((again.predict(acts.valid_x.numpy()) == acts.valid_y.numpy()).mean()))
    assert 0 <= probe.accuracy <= 1 and probe.seconds > 0


def test_evaluate_scores_a_labelled_folder_image_by_image_as_the_predictor_does(trained, tmp_path, capsys):
    """Issue 28: ``nbtrainer evaluate`` on a folder the model never saw; its numbers are the Predictor's, one
    by one; ``predict`` takes folders and writes a CSV too."""
    import csv

    from nbtrainer.results.evaluate import evaluate_folder

    trained.save_model(tmp_path / "model.safetensors")
    predictor = nbt.Predictor.from_file(tmp_path / "model.safetensors")
    test = tmp_path / "test"
    for i in range(12):  # digits 0, 1 and 2 only: not every class needs a folder
        label = trained.data.classes[int(trained.data.valid.targets()[i])]
        (test / label).mkdir(parents=True, exist_ok=True)
        digit_png(trained, i, test / label / f"{i}.png")
    result = evaluate_folder(predictor, test)
    one_by_one = torch.stack([predictor.predict(p)[1] for p in result.paths])
    assert torch.allclose(result.interpretation.probs, one_by_one, atol=1e-5)
    names = [predictor.classes[int(t)] for t in result.interpretation.targets]
    assert names == [p.split("/")[-2] for p in result.paths]
    assert result.accuracy == pytest.approx(float((one_by_one.argmax(1) == result.interpretation.targets).float().mean()))
    assert main(["evaluate", str(tmp_path / "model.safetensors"), str(test), "--csv", str(tmp_path / "t.csv")]) == 0
    printed = capsys.readouterr().out
    assert f"12 images of '{test}': accuracy {result.accuracy:.2%}" in printed and "confusion matrix" in printed
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert [r["path"] for r in rows] == result.paths and sum(r["correct"] == "True" for r in rows) == round(12 * result.accuracy)
    # --tta: the plain view and N augmented ones (the training's settings, kept in the model file), averaged;
    # the same views each time
    assert predictor.aug == trained.data.aug
    views = evaluate_folder(predictor, test, tta=2)
    assert torch.allclose(views.interpretation.probs, evaluate_folder(predictor, test, tta=2).interpretation.probs)
    assert not torch.allclose(views.interpretation.probs, result.interpretation.probs, atol=1e-4)
    assert torch.allclose(views.interpretation.probs.sum(1), torch.ones(12), atol=1e-5)
    assert main(["evaluate", str(tmp_path / "model.safetensors"), str(test), "--tta", "2"]) == 0
    assert f"accuracy {views.accuracy:.2%} (with TTA: the plain and 2 augmented views" in capsys.readouterr().out
    (test / "cat").mkdir()  # a class the model does not know: said, exit 2
    digit_png(trained, 0, test / "cat" / "x.png")
    assert main(["evaluate", str(tmp_path / "model.safetensors"), str(test)]) == 2
    assert "['cat'] are not classes of this model" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "model.safetensors"), str(test), "--csv", str(tmp_path / "p.csv")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + 13  # header + every image of the folder
    assert len(list(csv.DictReader(open(tmp_path / "p.csv")))) == 13
