"""QIDO-RS latency over a fixed set of representative searches.

Each search knows, from the dataset manifest, which studies (or series, or
instances) it must return; an answer with the wrong number of results, or a
result that should not be there, voids the figure for that kind.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from bench.client import NotMeasurable, Target, first_value, qido, query_string
from bench.dataset import FAMILY_NAMES, BenchData, StudyEntry
from bench.stats import Figure, latency, timed_ms

LIMIT = 100
PAGE = 50
STUDY_UID = "0020000D"
SERIES_UID = "0020000E"
SOP_UID = "00080018"


@dataclass(frozen=True)
class Query:
    path: str
    params: dict[str, str | int]
    uid_tag: str
    expected: frozenset[str]
    limit: int
    offset: int = 0

    @property
    def expected_count(self) -> int:
        return max(0, min(self.limit, len(self.expected) - self.offset))


@dataclass(frozen=True)
class QueryKind:
    key: str
    label: str
    queries: list[Query]


def build(data: BenchData, variants: int, seed: int = 7) -> list[QueryKind]:
    rng = random.Random(seed)
    studies = data.studies
    picked = rng.sample(studies, min(variants, len(studies)))

    def study_query(params: dict[str, str | int], match: list[StudyEntry]) -> Query:
        uids = frozenset(s.study_instance_uid for s in match)
        return Query("/studies", {**params, "limit": LIMIT}, STUDY_UID, uids, LIMIT)

    by_patient = [
        study_query(
            {"PatientID": s.patient_id},
            [t for t in studies if t.patient_id == s.patient_id],
        )
        for s in picked
    ]
    # Four-letter family-name prefixes: none is the start of a given name,
    # so whole-value and per-component matching must agree (PS3.4 C.2.2.2.4).
    prefixes = sorted({name[:4] for name in FAMILY_NAMES})
    by_name: dict[bool, list[Query]] = {True: [], False: []}
    for prefix in prefixes:
        match = [s for s in studies if s.patient_name.startswith(prefix)]
        # Non-ASCII prefixes also go in lower case: case-insensitive
        # matching must fold more than A-Z.
        spellings = [prefix] if prefix.isascii() else [prefix, prefix.lower()]
        for spelling in spellings:
            by_name[prefix.isascii()].append(
                study_query({"PatientName": spelling + "*"}, match)
            )
    by_accession = [
        study_query({"AccessionNumber": s.accession_number}, [s]) for s in picked
    ]
    by_date = []
    for s in picked:
        first = datetime.strptime(s.study_date, "%Y%m%d")
        last = (first + timedelta(days=30)).strftime("%Y%m%d")
        match = [t for t in studies if s.study_date <= t.study_date <= last]
        by_date.append(study_query({"StudyDate": f"{s.study_date}-{last}"}, match))
    modalities = sorted({m for s in studies for m in s.modalities})
    by_modality = [
        study_query({"ModalitiesInStudy": m}, [s for s in studies if m in s.modalities])
        for m in modalities
    ]
    all_uids = frozenset(s.study_instance_uid for s in studies)
    pages = [
        Query(
            "/studies",
            {"limit": PAGE, "offset": n * PAGE},
            STUDY_UID,
            all_uids,
            PAGE,
            n * PAGE,
        )
        for n in range(min(variants, max(1, len(studies) // PAGE)))
    ]
    series_of_study = [
        Query(
            f"/studies/{s.study_instance_uid}/series",
            {"limit": LIMIT},
            SERIES_UID,
            frozenset(se.series_instance_uid for se in s.series),
            LIMIT,
        )
        for s in picked
    ]
    instances_of_series = [
        Query(
            f"/studies/{s.study_instance_uid}/series/{s.series[0].series_instance_uid}/instances",
            {"limit": LIMIT},
            SOP_UID,
            frozenset(i.sop_instance_uid for i in s.series[0].instances),
            LIMIT,
        )
        for s in picked
    ]
    return [
        QueryKind("qido_patient_id", "QIDO-RS studies by PatientID", by_patient),
        QueryKind(
            "qido_patient_name",
            "QIDO-RS studies by PatientName prefix*, ASCII",
            by_name[True][:variants],
        ),
        QueryKind(
            "qido_patient_name_utf8",
            "QIDO-RS studies by PatientName prefix*, non-ASCII",
            by_name[False][:variants],
        ),
        QueryKind("qido_accession", "QIDO-RS studies by AccessionNumber", by_accession),
        QueryKind(
            "qido_date_range", "QIDO-RS studies by 30-day StudyDate range", by_date
        ),
        QueryKind("qido_modality", "QIDO-RS studies by ModalitiesInStudy", by_modality),
        QueryKind(
            "qido_study_page", f"QIDO-RS study list, limit={PAGE} with offset", pages
        ),
        QueryKind("qido_series_of_study", "QIDO-RS series of a study", series_of_study),
        QueryKind(
            "qido_instances_of_series",
            "QIDO-RS instances of a series",
            instances_of_series,
        ),
    ]


def measure_kind(target: Target, kind: QueryKind, rounds: int) -> Figure:
    # One untimed, checked pass warms caches on both servers alike.
    for query in kind.queries:
        _run(target, query)

    samples = []
    for _ in range(rounds):
        for query in kind.queries:
            elapsed, _ = timed_ms(partial(_run, target, query))
            samples.append(elapsed)
    return latency(samples)


def _run(target: Target, query: Query) -> None:
    results = qido(target, query.path, query.params)
    uids = [str(first_value(item, query.uid_tag)) for item in results]
    unexpected = set(uids) - query.expected
    if len(uids) != query.expected_count or unexpected or len(set(uids)) != len(uids):
        raise NotMeasurable(
            f"{query.path}?{_query_text(query)} returned {len(uids)} results "
            f"({len(unexpected)} unexpected), expected {query.expected_count}"
        )


def _query_text(query: Query) -> str:
    return query_string(query.params)
