"""WADO-RS: series metadata latency, instance and series retrieve
throughput, raw frames and rendered frames. One client, one request at a
time; every answer is checked against the dataset before it counts.
"""

import io
import json
import random
import time
from functools import partial

import pydicom
from PIL import Image

from bench.client import (
    DICOM_JSON,
    MULTIPART_DICOM,
    MULTIPART_FRAMES,
    NotMeasurable,
    Target,
    first_value,
    get,
    parse_multipart,
)
from bench.dataset import BenchData, InstanceEntry, SeriesEntry, StudyEntry
from bench.stats import Figure, latency, timed_ms

MB = 1_000_000
SOP_UID = "00080018"


def _instance_path(st: StudyEntry, se: SeriesEntry, i: InstanceEntry) -> str:
    return f"/studies/{st.study_instance_uid}/series/{se.series_instance_uid}/instances/{i.sop_instance_uid}"


def pick_series(
    data: BenchData, count: int, seed: int = 11
) -> list[tuple[StudyEntry, SeriesEntry]]:
    series = data.all_series()
    return random.Random(seed).sample(series, min(count, len(series)))


def pick_instances(
    data: BenchData, count: int, native_only: bool = False, seed: int = 13
) -> list[tuple[StudyEntry, SeriesEntry, InstanceEntry]]:
    items = [x for x in data.all_instances() if x[2].native or not native_only]
    return random.Random(seed).sample(items, min(count, len(items)))


def series_metadata(
    target: Target, series: list[tuple[StudyEntry, SeriesEntry]]
) -> Figure:
    def fetch(st: StudyEntry, se: SeriesEntry) -> None:
        path = (
            f"/studies/{st.study_instance_uid}/series/{se.series_instance_uid}/metadata"
        )
        items = json.loads(get(target, path, DICOM_JSON).content)
        found = {str(first_value(item, SOP_UID)) for item in items}
        expected = {i.sop_instance_uid for i in se.instances}
        if found != expected or len(items) != len(expected):
            raise NotMeasurable(
                f"series metadata held {len(items)} instances, expected {len(expected)}"
            )

    for st, se in series[:2]:
        fetch(st, se)
    samples = [timed_ms(partial(fetch, st, se))[0] for st, se in series]
    return latency(samples)


def instance_retrieve(
    target: Target,
    data: BenchData,
    instances: list[tuple[StudyEntry, SeriesEntry, InstanceEntry]],
) -> Figure:
    """MB/s over single-instance retrieves, each checked byte for byte."""
    altered = 0
    total_bytes = 0
    start = time.perf_counter()
    for st, se, i in instances:
        parts = parse_multipart(get(target, _instance_path(st, se, i), MULTIPART_DICOM))
        if len(parts) != 1:
            raise NotMeasurable(f"instance retrieve returned {len(parts)} parts")
        total_bytes += len(parts[0])
        # C-STORE carries no file meta: the receiver writes its own, so only
        # the data set after it is compared.
        if _data_set(parts[0]) != _data_set(data.path(i).read_bytes()):
            altered += 1
            _check_identity(parts[0], i)
    elapsed = time.perf_counter() - start
    note = (
        f"{altered} of {len(instances)} data sets not byte-identical to what was sent"
        if altered
        else ""
    )
    return Figure(total_bytes / MB / elapsed, samples=len(instances), note=note)


def series_retrieve(
    target: Target, series: list[tuple[StudyEntry, SeriesEntry]]
) -> Figure:
    total_bytes = 0
    start = time.perf_counter()
    for st, se in series:
        path = f"/studies/{st.study_instance_uid}/series/{se.series_instance_uid}"
        parts = parse_multipart(get(target, path, MULTIPART_DICOM))
        if len(parts) != len(se.instances):
            raise NotMeasurable(
                f"series retrieve returned {len(parts)} of {len(se.instances)} instances"
            )
        total_bytes += sum(map(len, parts))
    elapsed = time.perf_counter() - start
    return Figure(total_bytes / MB / elapsed, samples=len(series))


def frames(
    target: Target, instances: list[tuple[StudyEntry, SeriesEntry, InstanceEntry]]
) -> tuple[Figure, Figure]:
    """Raw frame 1 of native images: latency, and frames per second."""

    def fetch(st: StudyEntry, se: SeriesEntry, i: InstanceEntry) -> None:
        parts = parse_multipart(
            get(target, _instance_path(st, se, i) + "/frames/1", MULTIPART_FRAMES)
        )
        expected = i.rows * i.columns * i.samples_per_pixel * i.bits_allocated // 8
        if len(parts) != 1 or len(parts[0]) != expected:
            sizes = [len(p) for p in parts]
            raise NotMeasurable(
                f"frame 1 came as parts of {sizes} bytes, expected one of {expected}"
            )

    return _latency_and_rate(fetch, instances)


def rendered(
    target: Target, instances: list[tuple[StudyEntry, SeriesEntry, InstanceEntry]]
) -> tuple[Figure, Figure]:
    """Frame 1 rendered as JPEG: latency, and frames per second."""

    def fetch(st: StudyEntry, se: SeriesEntry, i: InstanceEntry) -> None:
        body = get(
            target, _instance_path(st, se, i) + "/frames/1/rendered", "image/jpeg"
        ).content
        try:
            image = Image.open(io.BytesIO(body))
            image.load()
        except OSError as exc:
            raise NotMeasurable(f"rendered frame is not an image: {exc}") from None
        if image.format != "JPEG" or image.size != (i.columns, i.rows):
            raise NotMeasurable(
                f"rendered frame is {image.format} {image.size}, expected JPEG {(i.columns, i.rows)}"
            )

    return _latency_and_rate(fetch, instances)


def _latency_and_rate(fetch, instances) -> tuple[Figure, Figure]:  # type: ignore[no-untyped-def]
    for item in instances[:2]:
        fetch(*item)
    start = time.perf_counter()
    samples = [timed_ms(partial(fetch, *item))[0] for item in instances]
    elapsed = time.perf_counter() - start
    return latency(samples), Figure(len(instances) / elapsed, samples=len(instances))


def _data_set(part: bytes) -> bytes:
    """The bytes after the PS3.10 preamble and File Meta group (whose
    length its first element, (0002,0000) UL, gives)."""
    if part[128:132] != b"DICM" or part[132:136] != b"\x02\x00\x00\x00":
        return part
    meta_length = int.from_bytes(part[140:144], "little")
    return part[144 + meta_length :]


def _check_identity(part: bytes, instance: InstanceEntry) -> None:
    try:
        ds = pydicom.dcmread(io.BytesIO(part), stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure voids the figure
        raise NotMeasurable(f"retrieved instance is not DICOM: {exc}") from None
    if ds.SOPInstanceUID != instance.sop_instance_uid:
        raise NotMeasurable(
            f"asked for {instance.sop_instance_uid}, got {ds.SOPInstanceUID}"
        )
