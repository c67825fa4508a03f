"""Instance files in an S3-compatible object store (PACSWEB_STORAGE_BACKEND=s3).

apps/archive/storage.py stays the one interface; it hands object work
here when the backend is "s3". Receiving still spools to the local
temporary area (a DIMSE or STOW-RS stream cannot be retried, an upload
can), and `put` uploads the finished file and reads the object's size back
before returning, so ingest commits a row only for an object that exists
whole. Reads are ranged GETs: `open_object` gives a seekable file that
fetches only the bytes asked for (a frame from a multi-GB instance), and
`iter_range` streams one GET body in chunks.

boto3 is used directly rather than through django-storages: its S3 file
object downloads the whole object on open, and the archive needs ranged
reads, a confirmed put and a listing with sizes and times for the sweep.
Credentials come from boto3's own environment variables
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or the instance role.
"""

import errno
import io
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

CHUNK_SIZE = 1024 * 1024
# Reads smaller than this are rounded up, so that parsing a header element
# by element does not become one request per element.
READ_AHEAD = 256 * 1024
# boto3 switches to a multipart upload above this; parts of this size.
MULTIPART_CHUNK = 64 * 1024 * 1024
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


@dataclass(frozen=True)
class StoredObject:
    relative: str
    size: int
    modified: float  # POSIX time


class ObjectStoreError(OSError):
    """The object store refused or lost an object (an OSError, as a disk
    error is, so ingest maps it to a DICOM status in the same place)."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EIO, message)


@lru_cache(maxsize=8)
def _client(endpoint: str, region: str) -> Any:
    # boto3 clients are thread-safe once created; creating them is not, and
    # is slow, so there is one per endpoint per process.
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint or None,
        region_name=region or None,
        config=Config(
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        ),
    )


def client() -> Any:
    return _client(settings.PACSWEB_S3_ENDPOINT_URL, settings.PACSWEB_S3_REGION)


def bucket() -> str:
    return str(settings.PACSWEB_S3_BUCKET)


def key_for(relative: str) -> str:
    return f"{settings.PACSWEB_S3_PREFIX}{relative}"


def _is_missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND


def put(local_path: Path, relative: str) -> None:
    """Upload a finished file and confirm the object holds all of it."""
    size = local_path.stat().st_size
    key = key_for(relative)
    transfer = TransferConfig(
        multipart_threshold=MULTIPART_CHUNK, multipart_chunksize=MULTIPART_CHUNK
    )
    try:
        client().upload_file(str(local_path), bucket(), key, Config=transfer)
        stored = client().head_object(Bucket=bucket(), Key=key)["ContentLength"]
    except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
        raise ObjectStoreError(f"object store: {exc}") from exc
    if stored != size:
        delete(relative)
        raise ObjectStoreError(f"{key} holds {stored} bytes, {size} were sent")


def delete(relative: str) -> None:
    # Deleting a key that does not exist succeeds in S3, like unlink with
    # missing_ok.
    client().delete_object(Bucket=bucket(), Key=key_for(relative))


def stat(relative: str) -> StoredObject:
    try:
        head = client().head_object(Bucket=bucket(), Key=key_for(relative))
    except ClientError as exc:
        if _is_missing(exc):
            raise FileNotFoundError(relative) from None
        raise
    return StoredObject(
        relative, head["ContentLength"], head["LastModified"].timestamp()
    )


def iter_range(
    relative: str, start: int = 0, length: int | None = None
) -> Iterator[bytes]:
    """Stream an object, or a byte range of it, from one GET."""
    if length == 0:
        return
    byte_range = (
        f"bytes={start}-" if length is None else f"bytes={start}-{start + length - 1}"
    )
    try:
        response = client().get_object(
            Bucket=bucket(), Key=key_for(relative), Range=byte_range
        )
    except ClientError as exc:
        if _is_missing(exc):
            raise FileNotFoundError(relative) from None
        if exc.response.get("Error", {}).get("Code") == "InvalidRange":
            return  # start at or past the end: nothing, as a local read gives
        raise
    body = response["Body"]
    try:
        yield from body.iter_chunks(CHUNK_SIZE)
    finally:
        body.close()


def iter_objects() -> Iterator[StoredObject]:
    """Every stored instance object, with its size and time, for the sweep."""
    prefix = str(settings.PACSWEB_S3_PREFIX)
    pages = (
        client()
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket(), Prefix=prefix)
    )
    for page in pages:
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith(".dcm"):
                yield StoredObject(
                    key[len(prefix) :], item["Size"], item["LastModified"].timestamp()
                )


def open_object(relative: str) -> io.BufferedReader:
    """A seekable, buffered binary file over ranged GETs."""
    return io.BufferedReader(_RangedObject(relative), buffer_size=READ_AHEAD)


class _RangedObject(io.RawIOBase):
    def __init__(self, relative: str) -> None:
        super().__init__()
        self.name = relative
        self._size = stat(relative).size  # FileNotFoundError as for a file
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}
        position = base[whence] + offset
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._pos = position
        return position

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        view = memoryview(buffer).cast("B")
        got = 0
        for chunk in iter_range(self.name, self._pos, want):
            view[got : got + len(chunk)] = chunk
            got += len(chunk)
        self._pos += got
        return got
