"""nbtrainer.datasets against an HTTP server on 127.0.0.1 serving small archives in each set's real format
(torchvision's classes read them); torchvision's URLs and checksums are pointed at that server in each test.
No network: download, cache hit, a truncated and a corrupt archive, no server at all, files put by hand."""
from __future__ import annotations

import hashlib
import io
import pickle
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision import datasets as tv

import nbtrainer as nbt
from nbtrainer.cli import main
from nbtrainer.datasets import DatasetError


# ---------------------------------------------------------------- archives in each set's format
def _jpeg(seed: int, size=(40, 30)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


WNIDS = ("n01440764", "n03028079")  # tench, church


def imagenette(monkeypatch, url: str) -> dict[str, bytes]:
    files = {f"imagenette2-160/{split}/{wnid}/{wnid}_{i}.JPEG": _jpeg(i + 10 * k)
             for k, wnid in enumerate(WNIDS) for split, n in (("train", 4), ("val", 2)) for i in range(n)}
    archive = _tgz(files)
    monkeypatch.setattr(tv.Imagenette, "_ARCHIVES", {"160px": (f"{url}/imagenette2-160.tgz", md5(archive))})
    return {"imagenette2-160.tgz": archive}


def pets(monkeypatch, url: str) -> dict[str, bytes]:
    breeds = [("Abyssinian", 1, 1), ("english_setter", 2, 2)]  # name, class id, species (1 cat, 2 dog)
    images = {f"images/{b}_{i}.jpg": _jpeg(i + 7 * c) for b, c, _ in breeds for i in range(1, 6)}
    lines = {s: "".join(f"{b}_{i} {c} {sp} 1\n" for b, c, sp in breeds for i in r)
             for s, r in (("trainval", range(1, 4)), ("test", range(4, 6)))}
    archives = {"images.tar.gz": _tgz(images),
                "annotations.tar.gz": _tgz({f"annotations/{s}.txt": t.encode() for s, t in lines.items()})}
    monkeypatch.setattr(tv.OxfordIIITPet, "_RESOURCES", tuple((f"{url}/{n}", md5(a)) for n, a in archives.items()))
    return archives


def flowers(monkeypatch, url: str) -> dict[str, bytes]:
    from scipy.io import savemat

    labels = np.array([1, 1, 1, 3, 3, 3, 1, 3])  # images 1..8, classes 1 (pink primrose) and 3
    def mat(d: dict) -> bytes:
        buf = io.BytesIO()
        savemat(buf, d)
        return buf.getvalue()
    archives = {"102flowers.tgz": _tgz({f"jpg/image_{i:05d}.jpg": _jpeg(i) for i in range(1, 9)}),
                "imagelabels.mat": mat({"labels": labels[None]}),
                "setid.mat": mat({"trnid": np.array([[1, 2, 4, 5]]), "valid": np.array([[3, 6]]),
                                  "tstid": np.array([[7, 8]])})}
    monkeypatch.setattr(tv.Flowers102, "_download_url_prefix", f"{url}/")
    monkeypatch.setattr(tv.Flowers102, "_file_dict", {"image": ("102flowers.tgz", md5(archives["102flowers.tgz"])),
                                                      "label": ("imagelabels.mat", md5(archives["imagelabels.mat"])),
                                                      "setid": ("setid.mat", md5(archives["setid.mat"]))})
    return archives


def cifar10(monkeypatch, url: str) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    def batch(n: int) -> bytes:
        return pickle.dumps({"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
                             "labels": [i % 10 for i in range(n)]})
    files = {**{f"data_batch_{i}": batch(4) for i in range(1, 6)}, "test_batch": batch(10),
             "batches.meta": pickle.dumps({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                                           "frog", "horse", "ship", "truck"]})}
    archive = _tgz({f"cifar-10-batches-py/{n}": d for n, d in files.items()})
    monkeypatch.setattr(tv.CIFAR10, "url", f"{url}/cifar-10-python.tar.gz")
    monkeypatch.setattr(tv.CIFAR10, "tgz_md5", md5(archive))
    monkeypatch.setattr(tv.CIFAR10, "train_list", [[f"data_batch_{i}", md5(files[f"data_batch_{i}"])] for i in range(1, 6)])
    monkeypatch.setattr(tv.CIFAR10, "test_list", [["test_batch", md5(files["test_batch"])]])
    monkeypatch.setattr(tv.CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names",
                                             "md5": md5(files["batches.meta"])})
    return {"cifar-10-python.tar.gz": archive}


MAKERS = {"imagenette": imagenette, "pets": pets, "flowers102": flowers, "cifar10": cifar10}
EXPECTED = {  # name -> (train, valid, test, first classes): the official test split is the test set; where
    # a set has no official validation split, 20% of train is held out for it
    "imagenette": (6, 2, 4, ["tench", "church"]),
    "pets": (5, 1, 4, ["Abyssinian", "English Setter"]),
    "flowers102": (4, 2, 2, ["pink primrose", "hard-leaved pocket orchid", "canterbury bells"]),
    "cifar10": (16, 4, 10, ["airplane", "automobile"]),
}


# ---------------------------------------------------------------- the loopback server
class Server:
    """Serves ``files`` on 127.0.0.1; names in ``truncate`` are cut in half (Content-Length of the whole);
    every GET is logged."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        self.stall: set[str] = set()  # names sent in half, then held until `release` is set
        self.release = threading.Event()
        self.gets: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _head(self) -> bytes | None:
                data = server.files.get(self.path.lstrip("/"))
                if data is None:
                    self.send_error(404)
                    return None
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                return data

            def do_HEAD(self):
                self._head()

            def do_GET(self):
                server.gets.append(self.path)
                data = self._head()
                if data is not None:
                    cut = self.path.lstrip("/") in server.truncate | server.stall
                    self.wfile.write(data[: len(data) // 2] if cut else data)
                    if self.path.lstrip("/") in server.stall:
                        self.wfile.flush()
                        server.release.wait(60)
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.release.set()
    s.httpd.shutdown()
    s.httpd.server_close()


def _nothing_half_written(root: Path, name: str) -> None:
    """No data set folder, no scratch folder, no archive left in ``root/name`` after a failure."""
    left = [p.name for p in (root / name).iterdir()] if (root / name).exists() else []
    assert left == [], left


# ---------------------------------------------------------------- tests
@pytest.mark.parametrize("name", list(MAKERS))
def test_downloads_once_into_the_cache_and_loads_as_image_data(name, server, monkeypatch, tmp_path):
    server.files = MAKERS[name](monkeypatch, server.url)
    data = nbt.datasets.load(name, root=tmp_path, size=32, bs=2, num_workers=0)
    n_train, n_valid, n_test, first = EXPECTED[name]
    assert (len(data.train), len(data.valid), len(data.test)) == (n_train, n_valid, n_test)
    assert data.test.source is not data.train.source  # the published test split, not a part of train
    assert data.classes[:len(first)] == first
    xb, yb = next(iter(data.train_dl()))
    assert xb.shape == (2, 3, 32, 32) and yb.dtype.is_floating_point is False
    # every file fetched (torchvision resolves redirects with a GET of its own first), and nothing else
    assert set(server.gets) == {f"/{n}" for n in server.files}
    requests = len(server.gets)
    kept = [p.name for p in (tmp_path / name).iterdir()]
    assert kept == [nbt.datasets.spec(name).folder]  # unpacked; no archive, no scratch folder left
    assert data.origin.startswith(f"nbt.datasets.load({name!r}")

    again = nbt.datasets.load(name, root=tmp_path, size=32, bs=2, num_workers=0)  # the cache: no request
    assert len(server.gets) == requests and again.classes == data.classes


def test_the_size_comes_from_the_images_and_the_data_set_is_not_a_folder_to_edit(server, monkeypatch, tmp_path):
    server.files = imagenette(monkeypatch, server.url)
    data = nbt.datasets.load("imagenette", root=tmp_path, num_workers=0)
    assert data.size == 64  # 30 px images: the body's floor (nbtrainer.data.sizes)
    assert data.root is None
    with pytest.raises(ValueError, match="a downloaded standard set"):
        nbt.Cleaner(data)  # the labels live in torchvision's files, not in class folders


def test_a_truncated_download_keeps_nothing_and_the_next_try_works(server, monkeypatch, tmp_path):
    server.files = pets(monkeypatch, server.url)
    server.truncate = {"annotations.tar.gz"}
    with pytest.raises(DatasetError, match=r"annotations.tar.gz is corrupt or truncated: .* expected MD5"):
        nbt.datasets.load("pets", root=tmp_path)
    _nothing_half_written(tmp_path, "pets")
    server.truncate = set()
    assert nbt.datasets.load("pets", root=tmp_path, num_workers=0).c == 2


def test_a_corrupt_archive_with_a_matching_checksum_says_it_cannot_be_unpacked(server, monkeypatch, tmp_path):
    server.files = imagenette(monkeypatch, server.url)
    bad = b"this is not a gzip file" * 100
    server.files["imagenette2-160.tgz"] = bad
    monkeypatch.setattr(tv.Imagenette, "_ARCHIVES", {"160px": (f"{server.url}/imagenette2-160.tgz", md5(bad))})
    with pytest.raises(DatasetError, match=r"'imagenette2-160.tgz' from http://127.0.0.1.* could not be unpacked"):
        nbt.datasets.load("imagenette", root=tmp_path)
    _nothing_half_written(tmp_path, "imagenette")


def test_without_network_the_error_says_what_to_download_and_where_then_files_put_by_hand_work(
        server, monkeypatch, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    archives = flowers(monkeypatch, dead)
    with pytest.raises(DatasetError) as err:
        nbt.datasets.load("flowers102", root=tmp_path)
    text = str(err.value)
    downloads = tmp_path / "flowers102" / "downloads"
    assert all(f"{dead}/{n}" in text for n in archives) and f"'{downloads}/'" in text, text
    _nothing_half_written(tmp_path, "flowers102")
    downloads.mkdir(parents=True)
    for n, a in archives.items():
        (downloads / n).write_bytes(a)
    data = nbt.datasets.load("flowers102", root=tmp_path, num_workers=0)  # from the files, no network
    assert (len(data.train), len(data.valid), data.c) == (4, 2, 102)
    assert all((downloads / n).is_file() for n in archives)  # the user's files are left where they were


def test_a_bad_file_put_by_hand_is_named(monkeypatch, tmp_path):
    cifar10(monkeypatch, "http://127.0.0.1:9")
    downloads = tmp_path / "cifar10" / "downloads"
    downloads.mkdir(parents=True)
    (downloads / "cifar-10-python.tar.gz").write_bytes(b"half a file")
    with pytest.raises(DatasetError, match=r"cifar-10-python.tar.gz' \(put there by hand\) is corrupt or truncated"):
        nbt.datasets.load("cifar10", root=tmp_path)


def test_unknown_names_and_both_sources_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"dataset='mnist': expected one of \['imagenette', 'pets'"):
        nbt.datasets.load("mnist")
    assert main(["run", "--dataset", "pets", "--data", str(tmp_path), "--no-progress"]) == 2
    assert "give one of them" in capsys.readouterr().err


def test_nbtrainer_run_dataset_trains_on_the_downloaded_set(server, monkeypatch, tmp_path, capsys):
    server.files = imagenette(monkeypatch, server.url)
    code = main(["run", "--dataset", "imagenette", "--data-root", str(tmp_path / "cache"), "--size", "32",
                 "--final-size", "0", "--bs", "4", "--head-cycles", "1", "--aug-cycles", "1", "--unfrozen-cycles", "1",
                 "--final-cycles", "1", "--tta", "1", "--lr-find-iters", "10", "--unfrozen-lr-find-iters", "10",
                 "--workers", "0", "--out", str(tmp_path / "out"), "--no-progress"])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, out + captured.err
    assert "classes: tench, church" in out and "validation accuracy:" in out
    assert (tmp_path / "out" / "metrics.json").is_file()


def test_a_download_killed_midway_leaves_nothing_the_next_call_does_not_remove(server, monkeypatch, tmp_path):
    import os
    import signal
    import time

    server.files = imagenette(monkeypatch, server.url)
    server.stall = {"imagenette2-160.tgz"}
    pid = os.fork()
    if pid == 0:  # the child downloads, and is killed with half the archive written
        try:
            nbt.datasets.load("imagenette", root=tmp_path)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 60
    while not (server.gets.count("/imagenette2-160.tgz") >= 2  # (torchvision's redirect check, then the download)
               and list((tmp_path / "imagenette").glob(".imagenette-partial-*/*"))):
        assert time.monotonic() < deadline, "the child never started downloading"
        time.sleep(0.05)
    time.sleep(0.3)  # the child now waits for the rest of the archive
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert list((tmp_path / "imagenette").glob(".imagenette-partial-*"))  # what a kill leaves
    server.stall = set()
    server.release.set()
    data = nbt.datasets.load("imagenette", root=tmp_path, num_workers=0)
    assert [p.name for p in (tmp_path / "imagenette").iterdir()] == [nbt.datasets.spec("imagenette").folder]
    assert (len(data.train), len(data.valid), len(data.test)) == (6, 2, 4)


def test_an_archive_member_that_reaches_outside_is_refused(server, monkeypatch, tmp_path):
    server.files = imagenette(monkeypatch, server.url)
    evil = _tgz({"imagenette2-160/train/x.JPEG": _jpeg(0), "../../escaped.txt": b"outside"})
    server.files["imagenette2-160.tgz"] = evil
    monkeypatch.setattr(tv.Imagenette, "_ARCHIVES", {"160px": (f"{server.url}/imagenette2-160.tgz", md5(evil))})
    with pytest.raises(DatasetError, match=r"could not be unpacked \(OutsideDestinationError"):
        nbt.datasets.load("imagenette", root=tmp_path / "cache")
    assert not list(tmp_path.rglob("escaped.txt"))
    _nothing_half_written(tmp_path / "cache", "imagenette")
