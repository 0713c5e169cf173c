"""Download a standard data set once, whole or not at all.

torchvision's ``download_url`` fetches each file (redirects, a tqdm progress bar); what it leaves to its
callers, and this module adds: everything goes into a scratch folder next to the cache, each file's MD5 is
checked (both sums named when they differ), archives are unpacked there, and only a complete data set is
moved into place (one rename). A failed or interrupted download leaves nothing half-written in the cache.

Without network, the same files can be put by hand in ``<root>/downloads/``: they are checked and
unpacked the same way. The error raised without network says which files and where.
"""
from __future__ import annotations

import gzip
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import zipfile
from pathlib import Path

from torchvision.datasets.utils import calculate_md5, download_url, extract_archive

from .catalog import Archive, StandardSet

DOWNLOADS = "downloads"  # files put there by hand are used instead of downloading
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError)
ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, gzip.BadGzipFile, EOFError, ValueError, OSError)


class DatasetError(RuntimeError):
    """A standard data set could not be made ready; the message says which file, why, and what to do."""


def prepare(spec: StandardSet, root: Path) -> Path:
    """``root / spec.folder`` ready to read: there already (a cache hit), or downloaded, checked and unpacked
    now. Returns the folder."""
    final = root / spec.folder
    if final.exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    remove_abandoned(root, spec.name)
    # the pid in the name: a later call tells a scratch folder of a killed process from one still being filled
    scratch = Path(tempfile.mkdtemp(dir=root, prefix=f".{spec.name}-partial-{os.getpid()}-"))
    try:
        for archive in spec.archives():
            _place(archive, spec, root, scratch / archive.folder)
        made = scratch / spec.folder
        if not made.is_dir():
            raise DatasetError(f"{spec.title}: the files downloaded did not make the folder '{spec.folder}' "
                               f"torchvision expects; nothing was kept")
        try:
            os.replace(made, final)
        except OSError:
            if not final.is_dir():  # another process (a DDP rank) may have finished first
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return final


def remove_abandoned(root: Path, name: str) -> list[Path]:
    """Remove the scratch folders that killed downloads of ``name`` left in ``root`` (their process is gone);
    returns them."""
    removed = []
    for scratch in root.glob(f".{name}-partial-*"):
        pid = scratch.name[len(f".{name}-partial-"):].split("-", 1)[0]
        if scratch.is_dir() and not (pid.isdigit() and _alive(int(pid))):
            shutil.rmtree(scratch, ignore_errors=True)
            removed.append(scratch)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def extract(file: Path, dest: Path) -> None:
    """Unpack ``file`` into ``dest``. Tar archives with ``tarfile``'s ``filter="data"``: no member may write
    outside ``dest``, be a device, or carry setuid bits (torchvision's ``extract_archive`` calls
    ``extractall`` with no filter); zip and gz through torchvision (``zipfile`` keeps members inside)."""
    if tarfile.is_tarfile(file):
        with tarfile.open(file) as tar:
            tar.extractall(dest, filter="data")
    else:
        extract_archive(str(file), str(dest))


def _place(archive: Archive, spec: StandardSet, root: Path, dest: Path) -> None:
    """Put one file's contents in ``dest``: unpacked (archives) or as it is."""
    dest.mkdir(parents=True, exist_ok=True)
    by_hand = root / DOWNLOADS / archive.filename
    if by_hand.is_file():
        file = by_hand
        _check_md5(file, archive, f"'{file}' (put there by hand)", "replace it with a good copy")
    else:
        file = _download(archive, spec, root, dest)
    if not archive.extract:
        if file.parent != dest:
            shutil.copy(file, dest / archive.filename)
        return
    try:
        extract(file, dest)
    except ARCHIVE_ERRORS as e:  # tarfile.FilterError (a member reaching outside) is a TarError
        raise DatasetError(f"{spec.title}: '{archive.filename}' from {archive.url} could not be unpacked "
                           f"({type(e).__name__}: {e}); nothing was kept") from e
    if file.parent == dest:
        file.unlink()  # the unpacked files are what is kept; the archive would double the space


def _download(archive: Archive, spec: StandardSet, root: Path, dest: Path) -> Path:
    try:
        download_url(archive.url, str(dest), archive.filename, md5=None)  # checked below, with both sums named
    except NETWORK_ERRORS as e:
        raise DatasetError(offline_message(spec, root, f"{archive.url}: {e}")) from e
    file = dest / archive.filename
    _check_md5(file, archive, f"the download of {archive.url}", "try again (nothing was kept)")
    return file


def _check_md5(file: Path, archive: Archive, what: str, todo: str) -> None:
    if archive.md5 is None:
        return
    got = calculate_md5(str(file))
    if got != archive.md5:
        raise DatasetError(f"{what} is corrupt or truncated: {file.stat().st_size:,} bytes with MD5 {got}, "
                           f"expected MD5 {archive.md5}; {todo}")


def offline_message(spec: StandardSet, root: Path, reason: str) -> str:
    """What to download, and where to put it, when this machine cannot."""
    files = "\n".join(f"  {a.url}  (MD5 {a.md5})" for a in spec.archives())
    return (f"could not download {spec.title} ({reason}).\nWithout network here, download these files on a "
            f"machine that has it:\n{files}\nand put them in '{root / DOWNLOADS}/': nbtrainer checks them and "
            f"unpacks them into '{root / spec.folder}' at the next load.")
