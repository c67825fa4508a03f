"""Series thumbnails, rendered once and cached.

A series is represented by the first frame of its first instance (by
Instance Number): that choice rarely changes as a series arrives in order,
so the task that runs after each ingest (apps/dicomweb/tasks.py) finds the
thumbnail already made for every instance but the first. The cache file
name carries the representative instance's key, so a new first instance or
a replaced one makes a new thumbnail rather than serving a stale one.

The cache lives beside the instance store, not in it: every file in the
store is an instance with a row (the storage sweep and the crash tests
hold it to that), and the cache can be deleted at any time.
"""

import hashlib
import os
import secrets
from pathlib import Path

from django.conf import settings

from apps.archive import storage
from apps.archive.models import Instance
from apps.dicomweb import render
from apps.dicomweb.transcode import TranscodeError

THUMBNAIL_DIRNAME = "thumbnails"


def cache_root() -> Path:
    configured = settings.PACSWEB_THUMBNAIL_DIR
    return Path(configured) if configured else storage.root().parent / THUMBNAIL_DIRNAME


def default_viewport() -> render.Viewport:
    size = settings.PACSWEB_THUMBNAIL_SIZE
    return render.Viewport(size, size)


def representative(series_id: int) -> Instance | None:
    return (
        Instance.objects.filter(series_id=series_id, number_of_frames__gt=0)
        .defer("metadata_json")
        .order_by("instance_number", "id")
        .first()
    )


def render_instance(
    instance: Instance, index: int, options: render.RenderOptions
) -> bytes:
    # Rendering works on whole decoded frames in floating point: a very
    # large frame would take gigabytes in a web worker (or, with tasks run
    # in-process, inside the request that stored it). Such frames are
    # served as frames, not rendered.
    pixels = (instance.rows or 0) * (instance.columns or 0)
    if pixels > settings.PACSWEB_RENDER_MAX_PIXELS:
        raise TranscodeError(
            f"a frame of {instance.rows}x{instance.columns} pixels is larger than "
            f"PACSWEB_RENDER_MAX_PIXELS ({settings.PACSWEB_RENDER_MAX_PIXELS})"
        )
    with storage.open_stored(instance.storage_path) as handle:
        return render.render_frame(handle, instance, index, options)


def cache_path(series_uid: str, instance: Instance) -> Path:
    digest = hashlib.sha256(series_uid.encode()).hexdigest()
    size = settings.PACSWEB_THUMBNAIL_SIZE
    return cache_root() / digest[:2] / f"{digest}-{instance.pk}-{size}.jpg"


def series_thumbnail(series_id: int, series_uid: str) -> bytes | None:
    """The cached default thumbnail of a series, made now if missing.

    None when the series has no instance with pixel data, or its pixel
    data cannot be decoded here.
    """
    instance = representative(series_id)
    if instance is None:
        return None
    path = cache_path(series_uid, instance)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    options = render.RenderOptions(viewport=default_viewport())
    try:
        data = render_instance(instance, 0, options)
    except TranscodeError:
        return None
    _write(path, data)
    return data


def make_series_thumbnail(series_id: int) -> bool:
    """Render and cache a series thumbnail unless it is cached; True if made."""
    series_uid = (
        Instance.objects.filter(series_id=series_id)
        .values_list("series__series_instance_uid", flat=True)
        .first()
    )
    if series_uid is None:
        return False
    instance = representative(series_id)
    if instance is None or cache_path(series_uid, instance).exists():
        return False
    return series_thumbnail(series_id, series_uid) is not None


def forget_series(sender: object, series_uids: list[str], **kwargs: object) -> None:
    """Receiver of apps.archive.signals.instances_deleted: drop the cached
    thumbnails of those series (made again on demand if any remain)."""
    for series_uid in series_uids:
        digest = hashlib.sha256(series_uid.encode()).hexdigest()
        for path in (cache_root() / digest[:2]).glob(f"{digest}-*.jpg"):
            path.unlink(missing_ok=True)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: a reader sees the old thumbnail or the new one,
    # never half of one. Earlier thumbnails of the series go.
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    temp.write_bytes(data)
    os.replace(temp, path)
    series_prefix = path.name.split("-", 1)[0] + "-"
    for old in path.parent.glob(series_prefix + "*.jpg"):
        if old != path:
            old.unlink(missing_ok=True)
