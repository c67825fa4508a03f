"""Ingest rate through STOW-RS and C-STORE, and the check that the whole
dataset ended up stored.

The dataset is cut into one slice per ingest run (round robin by study, so
every slice has the same mix of modalities); each slice is stored once,
and together the runs leave the full dataset on the server for the search
and retrieve measurements. Later runs therefore write into a fuller
archive, in the same order on both servers.
"""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

from bench.client import (
    DICOM_JSON,
    NotMeasurable,
    Target,
    first_value,
    multipart_body,
    qido,
    session,
    storescu,
    stow,
)
from bench.dataset import BenchData, InstanceEntry
from bench.stats import Figure

logger = logging.getLogger(__name__)

INVENTORY_PAGE = 100
STUDY_UID = "0020000D"
STUDY_INSTANCES = "00201208"  # NumberOfStudyRelatedInstances


@dataclass(frozen=True)
class IngestRun:
    protocol: str  # "stow" or "cstore"
    clients: int

    @property
    def key(self) -> str:
        return f"ingest_{self.protocol}_{self.clients}"

    @property
    def label(self) -> str:
        name = "STOW-RS" if self.protocol == "stow" else "C-STORE (storescu)"
        plural = "client" if self.clients == 1 else "concurrent clients"
        return f"Ingest, {name}, {self.clients} {plural}"


RUNS = [
    IngestRun("stow", 1),
    IngestRun("stow", 2),
    IngestRun("stow", 4),
    IngestRun("cstore", 1),
    IngestRun("cstore", 4),
]


def slices(data: BenchData, count: int) -> list[list[InstanceEntry]]:
    parts: list[list[InstanceEntry]] = [[] for _ in range(count)]
    for n, study in enumerate(data.studies):
        for series in study.series:
            parts[n % count].extend(series.instances)
    return parts


def batches(items: list[InstanceEntry], size: int) -> list[list[InstanceEntry]]:
    return [items[n : n + size] for n in range(0, len(items), size)]


def run(
    target: Target,
    data: BenchData,
    run: IngestRun,
    instances: list[InstanceEntry],
    batch: int,
    storescu_config: Path,
) -> Figure:
    if run.protocol == "stow":
        return _stow_rate(target, data, instances, batch, run.clients)
    return _cstore_rate(target, data, instances, batch, run.clients, storescu_config)


def _stow_rate(
    target: Target,
    data: BenchData,
    instances: list[InstanceEntry],
    batch: int,
    clients: int,
) -> Figure:
    # Request bodies are built before the clock starts: the figure is the
    # server's, not the time to read files.
    requests = []
    for group in batches(instances, batch):
        body, content_type = multipart_body([data.path(i).read_bytes() for i in group])
        requests.append((body, content_type, len(group)))

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda r: stow(target, *r), requests))
    elapsed = time.perf_counter() - start
    return Figure(len(instances) / elapsed, samples=len(instances))


def _cstore_rate(
    target: Target,
    data: BenchData,
    instances: list[InstanceEntry],
    batch: int,
    clients: int,
    config: Path,
) -> Figure:
    groups = [[data.path(i) for i in group] for group in batches(instances, batch)]

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda files: storescu(target, config, files), groups))
    elapsed = time.perf_counter() - start
    return Figure(len(instances) / elapsed, samples=len(instances))


def check_inventory(target: Target, data: BenchData) -> None:
    """Every study of the dataset is found, with its number of instances."""
    expected = {s.study_instance_uid: s.instance_count for s in data.studies}
    found: dict[str, object] = {}
    offset = 0
    while True:
        page = qido(
            target,
            "/studies",
            {
                "limit": INVENTORY_PAGE,
                "offset": offset,
                "includefield": STUDY_INSTANCES,
            },
        )
        for item in page:
            found[str(first_value(item, STUDY_UID))] = first_value(
                item, STUDY_INSTANCES
            )
        offset += len(page)
        if len(page) < INVENTORY_PAGE:
            break

    missing = [uid for uid in expected if uid not in found]
    wrong = [
        uid for uid in expected if uid in found and _int(found[uid]) != expected[uid]
    ]
    if missing or wrong or len(found) != len(expected):
        raise NotMeasurable(
            f"inventory: {len(found)} studies listed for {len(expected)} stored, "
            f"{len(missing)} missing, {len(wrong)} with a wrong instance count"
        )


def reads_available(target: Target, data: BenchData) -> bool:
    """Whether any search or retrieve service answers at all: filling a
    store that nothing can read yet would only cost minutes."""
    study = data.studies[0]
    series = study.series[0]
    probes = [
        ("/studies", DICOM_JSON),
        (
            f"/studies/{study.study_instance_uid}/series/{series.series_instance_uid}/metadata",
            DICOM_JSON,
        ),
    ]
    for path, accept in probes:
        response = session().get(
            target.dicomweb + path, headers=target.headers(Accept=accept), timeout=60
        )
        if response.status_code != HTTPStatus.NOT_IMPLEMENTED:
            return True
    return False


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
