"""Is this file a picture we can train on? Checked by decoding it whole, before training, so that no damaged,
enormous or strange file is found mid-fit: every image of a folder is decoded once (in parallel threads: PIL
decodes outside the GIL), and the verdict kept in a small SQLite file keyed by the file's path, size and
modification time, so a second run over the same folder checks nothing again.

Limits, as errors rather than PIL's warnings: at most :data:`MAX_PIXELS` pixels (PIL only warns between its
limit and twice it: a 13000 x 13000 PNG of 20 KB decodes to 484 MiB), and at most :data:`MAX_ASPECT` times as
wide as high or high as wide (a 1 x 20000 PNG resized to 64 px high would be 64 x 1,280,000).

Example::

    image_problem("cats/1.jpg")                    # None, or why not: 'damaged data (OSError: ...)'
    problems = check_files(paths, CheckCache())    # {path: why} for the bad ones only
"""
from __future__ import annotations

import io
import os
import sqlite3
import struct
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 64_000_000  # 8000 x 8000: above any phone or camera photo of a class
MAX_ASPECT = 20.0  # panoramas are about 4:1 to 10:1
# the picture formats a file may be (its bytes decide, whatever its name): not EPS (PIL would run Ghostscript
# on it), nor any other format PIL can open (PIL's JPEG opener also reads the several-frame MPO of phones)
FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "PPM")


def size_problem(width: int, height: int) -> str | None:
    """Why an image of ``width`` x ``height`` pixels is refused before decoding it, or None."""
    if width < 1 or height < 1:
        return f"declares an empty size {width}x{height}"
    if width * height > MAX_PIXELS:
        return f"is {width}x{height} pixels, over the limit of {MAX_PIXELS:,}; expected a picture of at most that"
    if max(width, height) / min(width, height) > MAX_ASPECT:
        return (f"is {width}x{height} pixels, over {MAX_ASPECT:g} times as wide as high (or high as wide); "
                "expected a picture, not a strip")
    return None


def open_checked(source) -> Image.Image:
    """``Image.open(source)`` as one of :data:`FORMATS`, whose size passed :func:`size_problem` (ValueError naming it otherwise). The
    limit is below PIL's own, so PIL's warning-only band never decodes (no warnings filter: it is
    process-wide, and the checks run in threads)."""
    im = Image.open(source, formats=FORMATS)
    problem = size_problem(*im.size)
    if problem:
        im.close()
        raise ValueError(problem)
    return im


def image_problem(path: str | os.PathLike | bytes) -> str | None:
    """Why ``path`` (a file, or the bytes of one) cannot be used as an image, or None: the header (one of
    :data:`FORMATS`), the size limits, then the whole decode (a cut file or damaged data fails only there)."""
    source = io.BytesIO(path) if isinstance(path, bytes) else path
    try:
        with open_checked(source) as im:
            im.load()  # every pixel decoded: a cut file, or a flipped byte in the data, fails here
    except Image.DecompressionBombError as e:
        return f"declares too many pixels ({e})"
    except ValueError as e:
        return str(e)
    except (OSError, UnidentifiedImageError, SyntaxError, EOFError, IndexError, struct.error, ZeroDivisionError,
            MemoryError) as e:  # what PIL's decoders raise on damaged data (seen in a byte-flip fuzz)
        return f"not a readable image ({type(e).__name__}: {e})"
    return None


def default_cache_file() -> Path:
    base = os.environ.get("NBTRAINER_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "nbtrainer") / "image-checks.sqlite3"


class CheckCache:
    """Verdicts of :func:`image_problem` by (absolute path, size, mtime): a file changed since is checked again.
    SQLite, so that several processes (a class on one server) share it safely; a cache that cannot be opened
    or written is simply not used."""

    def __init__(self, file: str | os.PathLike | None = None):
        self.file = Path(file) if file is not None else default_cache_file()
        self._lock = threading.Lock()
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.file, timeout=30, check_same_thread=False)
            self.db.execute("CREATE TABLE IF NOT EXISTS checks (path TEXT PRIMARY KEY, size INTEGER, "
                            "mtime INTEGER, problem TEXT)")
        except sqlite3.Error:
            self.db = None

    def get(self, path: str, stat: os.stat_result) -> str | None | bool:
        """The cached verdict ('' for a good image), or False when there is none for this version of the file."""
        if self.db is None:
            return False
        with self._lock:
            row = self.db.execute("SELECT size, mtime, problem FROM checks WHERE path = ?", (path,)).fetchone()
        return row[2] if row and row[0] == stat.st_size and row[1] == stat.st_mtime_ns else False

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def put_many(self, rows: list[tuple[str, int, int, str]]) -> None:
        if self.db is None or not rows:
            return
        try:
            with self._lock, self.db:
                self.db.executemany("INSERT OR REPLACE INTO checks VALUES (?, ?, ?, ?)", rows)
        except sqlite3.Error:
            pass  # a read-only or locked cache: the next run checks again


def check_files(paths: Iterable[str], cache: CheckCache | None = None, threads: int | None = None) -> dict[str, str]:
    """Decode every file of ``paths`` (those the cache has not seen as they are now); returns {path: problem}
    for the bad ones."""
    todo, problems = [], {}
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError as e:
            problems[path] = f"cannot be read ({e.strerror})"
            continue
        known = cache.get(os.path.abspath(path), stat) if cache else False
        if known is False:
            todo.append((path, stat))
        elif known:
            problems[path] = known
    with ThreadPoolExecutor(threads or min(8, os.cpu_count() or 1)) as pool:
        verdicts = list(pool.map(lambda item: image_problem(item[0]), todo))
    rows = []
    for (path, stat), problem in zip(todo, verdicts):
        rows.append((os.path.abspath(path), stat.st_size, stat.st_mtime_ns, problem or ""))
        if problem:
            problems[path] = problem
    if cache:
        cache.put_many(rows)
    return problems
