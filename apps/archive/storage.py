"""Instance files on the local filesystem.

Layout under PACSWEB_STORAGE_DIR:
  tmp/                   files being received; never referenced by a row
  ab/cd/<sha256>-<n>.dcm stored instances

A stored path comes from a SHA-256 of the UIDs plus a random suffix, never
from UID text, so no input can steer a path, and a replacement (duplicate
policy "overwrite") gets a new path while the old file stays in place until
the database no longer points at it.

Durability: data is fsynced, then renamed into place, then the directory is
fsynced; only after that may a row referencing the file commit.

With PACSWEB_STORAGE_BACKEND=s3 the stored files are objects in a bucket
(apps/archive/objectstore.py) under the same relative names; receiving
still uses the local tmp/ area, and every function below keeps its
meaning, except `absolute`, which exists only for local files.
"""

import hashlib
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from apps.archive import objectstore
from apps.archive.objectstore import StoredObject

TMP_DIRNAME = "tmp"
TMP_PREFIX = "rcv-"
CHUNK_SIZE = 1024 * 1024


def uses_object_store() -> bool:
    return settings.PACSWEB_STORAGE_BACKEND == "s3"


def root() -> Path:
    return Path(settings.PACSWEB_STORAGE_DIR)


def tmp_dir() -> Path:
    path = root() / TMP_DIRNAME
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_temp_file() -> tuple[BinaryIO, Path]:
    """An open, empty file in the receiving area; the caller owns it."""
    fd, name = tempfile.mkstemp(dir=tmp_dir(), prefix=TMP_PREFIX, suffix=".part")
    return os.fdopen(fd, "w+b"), Path(name)


def spool(chunks: Iterable[bytes]) -> Path:
    """Write chunks to a new temporary file and return its path."""
    handle, path = new_temp_file()
    try:
        with handle:
            for chunk in chunks:
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def copy_to_temp(source: Path) -> Path:
    handle, path = new_temp_file()
    try:
        with handle, open(source, "rb") as src:
            shutil.copyfileobj(src, handle, CHUNK_SIZE)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def path_for(study_uid: str, series_uid: str, sop_uid: str) -> str:
    digest = hashlib.sha256(
        f"{study_uid}\\{series_uid}\\{sop_uid}".encode()
    ).hexdigest()
    return f"{digest[:2]}/{digest[2:4]}/{digest}-{secrets.token_hex(4)}.dcm"


def absolute(relative: str) -> Path:
    path = (root() / relative).resolve()
    # Stored paths are generated, but a row edited by hand must still not
    # reach outside the store.
    if root().resolve() not in path.parents:
        raise ValueError(f"storage path {relative!r} escapes the storage root")
    return path


def place(temp_path: Path, relative: str) -> None:
    """Make a received file durable at its final path (fsync, rename, fsync dir)."""
    if uses_object_store():
        objectstore.put(temp_path, relative)
        return
    target = absolute(relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(temp_path, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temp_path, target)
    _fsync_dir(target.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(relative: str) -> None:
    if uses_object_store():
        objectstore.delete(relative)
        return
    try:
        absolute(relative).unlink()
    except FileNotFoundError:
        pass


def open_stored(relative: str) -> BinaryIO:
    """The stored file, seekable, for reading (ranged GETs on S3)."""
    if uses_object_store():
        return objectstore.open_object(relative)  # type: ignore[return-value]
    return open(absolute(relative), "rb")


def iter_stored(
    relative: str, start: int = 0, length: int | None = None
) -> Iterator[bytes]:
    """Stream a stored file (or a byte range of it) in chunks."""
    if uses_object_store():
        yield from objectstore.iter_range(relative, start, length)
        return
    with open_stored(relative) as handle:
        handle.seek(start)
        remaining = length
        while remaining is None or remaining > 0:
            size = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
            chunk = handle.read(size)
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def stale_temp_files(older_than_seconds: float) -> list[Path]:
    cutoff = time.time() - older_than_seconds
    found = []
    for path in tmp_dir().iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                found.append(path)
        except FileNotFoundError:
            continue
    return found


def all_stored() -> Iterator[str]:
    """Every stored instance file, as a path relative to the root."""
    if uses_object_store():
        for item in objectstore.iter_objects():
            yield item.relative
        return
    base = root()
    if not base.exists():
        return
    for first in sorted(base.iterdir()):
        if first.name == TMP_DIRNAME or not first.is_dir():
            continue
        for path in first.rglob("*.dcm"):
            yield path.relative_to(base).as_posix()


def stored_objects() -> Iterator[StoredObject]:
    """Every stored instance file with its size and modification time."""
    if uses_object_store():
        yield from objectstore.iter_objects()
        return
    for relative in all_stored():
        try:
            info = absolute(relative).stat()
        except FileNotFoundError:
            continue
        yield StoredObject(relative, info.st_size, info.st_mtime)


def stat_stored(relative: str) -> StoredObject:
    """Size and time of one stored file; FileNotFoundError when it is gone."""
    if uses_object_store():
        return objectstore.stat(relative)
    info = absolute(relative).stat()
    return StoredObject(relative, info.st_size, info.st_mtime)
