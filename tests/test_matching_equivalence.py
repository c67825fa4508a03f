"""QIDO-RS parameters and C-FIND identifiers give the same matches.

Queries are generated from the values actually stored (exact, upper-cased,
prefix wildcards, "?" wildcards, ranges, UID lists), run once through
Query.from_params and once through Query.from_identifier; the UID sets
must be equal at every level.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from apps.archive.matching import Level, Query, search
from apps.archive.models import Instance, Patient, Series, Study
from tests.archive_fixtures import store_samples

pytestmark = pytest.mark.django_db

LEVELS = {"STUDY": Level.STUDY, "SERIES": Level.SERIES, "IMAGE": Level.INSTANCE}


def _uids(level: Level, rows: list) -> set[str]:
    if level == Level.STUDY:
        return {r.study_instance_uid for r in rows}
    if level == Level.SERIES:
        return {r.series_instance_uid for r in rows}
    return {r.sop_instance_uid for r in rows}


def _text(draw, pool: list[str]) -> str:
    value = draw(st.sampled_from(pool))
    form = draw(st.sampled_from(["exact", "upper", "prefix", "single"]))
    if form == "upper":
        return value.upper()
    if form == "prefix" and value:
        return value[: draw(st.integers(0, len(value)))] + "*"
    if form == "single" and value:
        at = draw(st.integers(0, len(value) - 1))
        return value[:at] + "?" + value[at + 1 :]
    return value


def _pools() -> dict[str, list[str]]:
    names = [
        n.split("=")[0] for n in Patient.objects.values_list("patient_name", flat=True)
    ]
    dates = sorted({d for d in Study.objects.values_list("study_date", flat=True) if d})
    return {
        "PatientName": [n for n in names if n]
        + ["山田^太郎", "やまだ^たろう", "홍^길동"],
        "PatientID": list(Patient.objects.values_list("patient_id", flat=True)),
        "StudyDate": dates,
        "StudyInstanceUID": list(
            Study.objects.values_list("study_instance_uid", flat=True)
        ),
        "AccessionNumber": [
            a for a in Study.objects.values_list("accession_number", flat=True) if a
        ],
        "Modality": sorted(set(Series.objects.values_list("modality", flat=True))),
        "SeriesNumber": [
            str(n)
            for n in Series.objects.values_list("series_number", flat=True)
            if n is not None
        ],
        "SOPClassUID": sorted(
            set(Instance.objects.values_list("sop_class_uid", flat=True))
        ),
    }


def test_qido_and_c_find_return_the_same_uids_for_generated_queries():
    store_samples()
    pools = _pools()
    outcomes: list[int] = []

    @settings(
        max_examples=120,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def check(data):
        draw = data.draw
        level_name = draw(st.sampled_from(list(LEVELS)))
        level = LEVELS[level_name]
        keys = [
            "PatientName",
            "PatientID",
            "StudyDate",
            "StudyInstanceUID",
            "AccessionNumber",
            "ModalitiesInStudy",
        ]
        if level >= Level.SERIES:
            keys += ["Modality", "SeriesNumber"]
        if level == Level.INSTANCE:
            keys += ["SOPClassUID"]
        chosen = draw(
            st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique=True)
        )

        params: list[tuple[str, str]] = []
        ds = Dataset()
        for keyword in chosen:
            if keyword in ("StudyInstanceUID", "ModalitiesInStudy"):
                pool = (
                    pools["Modality"]
                    if keyword == "ModalitiesInStudy"
                    else pools[keyword]
                )
                values = draw(
                    st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True)
                )
                params.append((keyword, ",".join(values)))
                setattr(ds, keyword, values if len(values) > 1 else values[0])
                continue
            if keyword == "StudyDate":
                low, high = sorted(
                    draw(
                        st.lists(
                            st.sampled_from(pools[keyword]), min_size=2, max_size=2
                        )
                    )
                )
                value = draw(
                    st.sampled_from([low, f"{low}-{high}", f"{low}-", f"-{high}"])
                )
            elif keyword in ("SeriesNumber", "SOPClassUID"):
                value = draw(st.sampled_from(pools[keyword]))
            else:
                value = _text(draw, pools[keyword])
            params.append((keyword, value))
            setattr(ds, keyword, value)

        fuzzy = draw(st.booleans())
        if fuzzy:
            params.append(("fuzzymatching", "true"))

        qido = search(Query.from_params(level, params)).rows
        cfind = search(Query.from_identifier(ds, level_name, "STUDY", fuzzy=fuzzy)).rows

        assert _uids(level, qido) == _uids(level, cfind), params
        outcomes.append(len(qido))

    check()

    # The property must have been tested on queries that match something.
    assert sum(1 for n in outcomes if n) >= 20
