"""The matching engine (apps/archive/query.py, matching.py, results.py)."""

from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from apps.archive.ingest import ingest_file
from apps.archive.matching import Level, Query, QueryError, search
from apps.archive.models import Collection, Study
from apps.archive.results import Renderer
from tests.archive_fixtures import (
    CT_SERIES,
    CT_SOP,
    CT_STUDY,
    FREN_STUDY,
    GERM_STUDY,
    GREEK_STUDY,
    H31_STUDY,
    H32_STUDY,
    I2_STUDY,
    JAPMULTI_STUDY,
    KOREAN_STUDY,
    MR_STUDY,
    RTDOSE_STUDY,
    RTPLAN_STUDY,
    RUSS_STUDY,
    SC_STUDY,
    derived,
    store_multiseries_studies,
    store_samples,
    uid,
)

pytestmark = pytest.mark.django_db


def studies(*params: tuple[str, str], **kwargs) -> list[str]:
    result = search(Query.from_params(Level.STUDY, params, **kwargs))
    return [row.study_instance_uid for row in result.rows]


def study_set(*params: tuple[str, str]) -> set[str]:
    return set(studies(*params))


@pytest.fixture
def stored():
    store_samples()


# --- person names -------------------------------------------------------------


def test_it_matches_a_japanese_name_by_any_of_its_component_groups(stored):
    assert study_set(("PatientName", "Yamada^Tarou")) == {H31_STUDY}
    assert study_set(("PatientName", "山田^太郎")) == {H31_STUDY, H32_STUDY}
    assert study_set(("PatientName", "やまだ^たろう")) == {
        H31_STUDY,
        H32_STUDY,
        JAPMULTI_STUDY,
    }
    assert study_set(("PatientName", "ﾔﾏﾀﾞ^ﾀﾛｳ")) == {H32_STUDY}


def test_it_matches_a_korean_name_by_its_hangul_group(stored):
    assert study_set(("PatientName", "홍^길동")) == {I2_STUDY}
    assert study_set(("PatientName", "洪^吉洞")) == {I2_STUDY}
    assert study_set(("PatientName", "김희중")) == {KOREAN_STUDY}


def test_it_folds_case_beyond_ascii(stored):
    assert study_set(("PatientName", "ΔΙΟΝΥΣΙΟΣ")) == {GREEK_STUDY}
    # The stored Russian name mixes Cyrillic and Latin letters.
    assert study_set(("PatientName", "ЛЮКCEМБYPГ")) == {RUSS_STUDY}
    assert study_set(("PatientName", "BUC^JÉRÔME")) == {FREN_STUDY}
    assert study_set(("PatientName", "äNEAS^rÜDIGER")) == {GERM_STUDY}
    assert study_set(("PatientName", "люк*")) == {RUSS_STUDY}


def test_it_matches_names_with_trailing_empty_components(stored):
    assert study_set(("PatientName", "compressedsamples^ct1^^^")) == {CT_STUDY}


def test_a_partial_name_matches_only_with_fuzzy_matching(stored):
    assert study_set(("PatientName", "tarou")) == set()
    assert study_set(("PatientName", "tarou"), ("fuzzymatching", "true")) == {H31_STUDY}
    assert study_set(("PatientName", "たろう"), ("fuzzymatching", "true")) == {
        H31_STUDY,
        H32_STUDY,
        JAPMULTI_STUDY,
    }
    assert study_set(("PatientName", "luk"), ("fuzzymatching", "true")) == set()


def test_it_matches_the_referring_physician_case_insensitively(stored):
    assert study_set(("ReferringPhysicianName", "MORIARTY^JAMES")) == {SC_STUDY}


# --- wildcards and the database's own pattern characters ---------------------


@pytest.fixture
def trap_names(tmp_path: Path) -> dict[str, str]:
    names = {
        "percent": "100%^Smith",
        "plain": "100X^Smith",
        "underscore": "Sm_th^J",
        "letter": "Smith^J",
        "bracket": "Br[a]ck^X",
    }
    for n, (label, name) in enumerate(names.items()):
        ingest_file(
            derived(
                tmp_path,
                "CT_small.dcm",
                PatientName=name,
                PatientID=f"TRAP{n}",
                AccessionNumber={"percent": "AC%1", "plain": "AC51"}.get(label, ""),
                StudyInstanceUID=uid(9, n),
                SeriesInstanceUID=uid(8, n),
                SOPInstanceUID=uid(7, n),
            )
        )
    return {label: uid(9, n) for n, label in enumerate(names)}


def test_sql_pattern_characters_in_a_value_match_only_themselves(trap_names):
    t = trap_names
    assert study_set(("PatientName", "100%*")) == {t["percent"]}
    assert study_set(("PatientName", "*%*")) == {t["percent"]}
    assert study_set(("PatientName", "%")) == set()
    assert study_set(("PatientName", "sm_th^j")) == {t["underscore"]}
    assert study_set(("PatientName", "*_*")) == {t["underscore"]}
    assert study_set(("PatientName", "br[a]*")) == {t["bracket"]}
    assert study_set(("PatientName", "br?a?*")) == {t["bracket"]}
    assert study_set(("AccessionNumber", "AC%1")) == {t["percent"]}
    assert study_set(("AccessionNumber", "AC?1")) == {t["percent"], t["plain"]}


def test_wildcards_on_text_keys_are_case_sensitive(stored):
    assert study_set(("PatientID", "SCS*")) == {
        GREEK_STUDY,
        RUSS_STUDY,
        FREN_STUDY,
        GERM_STUDY,
    }
    assert study_set(("PatientID", "scs*")) == set()


# --- dates, UIDs, numbers ------------------------------------------------------


def test_it_matches_date_ranges_open_and_closed(stored):
    assert study_set(("StudyDate", "20040101-20041231")) == {CT_STUDY, MR_STUDY}
    assert study_set(("StudyDate", "-20031231")) == {RTPLAN_STUDY, RTDOSE_STUDY}
    assert study_set(("StudyDate", "20170101")) == {SC_STUDY}
    assert SC_STUDY in study_set(("StudyDate", "20150101-"))
    assert CT_STUDY not in study_set(("StudyDate", "20150101-"))


def test_a_time_range_and_a_single_hour(stored):
    assert study_set(
        ("StudyDate", "20040101-20041231"), ("StudyTime", "0700-0800")
    ) == {CT_STUDY}
    assert study_set(("StudyDate", "20040101-20041231"), ("StudyTime", "18")) == {
        MR_STUDY
    }


def test_it_matches_a_list_of_uids_with_either_separator(stored):
    assert study_set(("StudyInstanceUID", f"{CT_STUDY},{MR_STUDY}")) == {
        CT_STUDY,
        MR_STUDY,
    }
    assert study_set(("StudyInstanceUID", f"{CT_STUDY}\\{RTPLAN_STUDY}")) == {
        CT_STUDY,
        RTPLAN_STUDY,
    }


def test_series_and_instance_keys_match_at_their_levels(stored):
    series = search(Query.from_params(Level.SERIES, [("Modality", "RT*")])).rows
    assert {s.modality for s in series} == {"RTPLAN", "RTDOSE"}
    instances = search(
        Query.from_params(Level.INSTANCE, [("SOPInstanceUID", CT_SOP)])
    ).rows
    assert [i.series.series_instance_uid for i in instances] == [CT_SERIES]
    numbered = search(Query.from_params(Level.SERIES, [("SeriesNumber", "2")])).rows
    assert [s.study.study_instance_uid for s in numbered] == [RTPLAN_STUDY]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("StudyDate", "2004", "StudyDate: '2004' is not a valid date or date range"),
        (
            "StudyDate",
            "20041301",
            "StudyDate: '20041301' is not a valid date or date range",
        ),
        (
            "StudyDate",
            "20050101-20040101",
            "StudyDate: '20050101-20040101' is a range that ends before it starts",
        ),
        ("StudyTime", "25x", "StudyTime: '25x' is not a valid time or time range"),
        (
            "StudyInstanceUID",
            "1.2.*",
            "StudyInstanceUID: '1.2.*' is not a valid UID (wildcards are not allowed in UIDs)",
        ),
        ("SeriesNumber", "two", "SeriesNumber: 'two' is not an integer"),
    ],
)
def test_it_refuses_malformed_values_naming_the_key(key, value, message):
    with pytest.raises(QueryError) as caught:
        Query.from_params(Level.SERIES, [(key, value)])

    assert caught.value.reason == message


# --- series-level filters, paging, order ----------------------------------


def test_paging_through_modalities_in_study_never_repeats_or_skips(tmp_path):
    expected = store_multiseries_studies(tmp_path)
    ingest_file(
        derived(
            tmp_path,
            "CT_small.dcm",
            StudyInstanceUID=uid(5),
            SeriesInstanceUID=uid(6),
            SOPInstanceUID=uid(7),
            Modality="OT",
            StudyDate="20200120",
        )
    )

    pages = [
        studies(("ModalitiesInStudy", "CT"), ("limit", "2"), ("offset", str(o)))
        for o in (0, 2, 4, 6)
    ]
    also_mr = [
        studies(("Modality", "MR"), ("limit", "2"), ("offset", str(o)))
        for o in (0, 2, 4)
    ]

    assert pages == [expected[0:2], expected[2:4], expected[4:5], []]
    assert sum(also_mr, []) == expected


def test_modalities_in_study_matches_any_of_a_list(tmp_path, stored):
    assert study_set(("ModalitiesInStudy", "CT\\MR")) == {CT_STUDY, MR_STUDY}
    assert study_set(("ModalitiesInStudy", "RT*")) == {RTPLAN_STUDY, RTDOSE_STUDY}


def test_default_order_is_most_recent_study_first_and_orderby_changes_it(stored):
    dated = studies(("StudyDate", "20040101-"))
    by_name = studies(("StudyDate", "20040101-"), ("orderby", "PatientName"))

    dates = [Study.objects.get(study_instance_uid=u).study_date for u in dated]
    assert dates == sorted(dates, reverse=True)
    assert dated[0] == SC_STUDY and dated[-1] == CT_STUDY
    names = [
        Study.objects.get(study_instance_uid=u).patient.patient_name_norm
        for u in by_name
    ]
    assert names == sorted(names)


def test_orderby_refuses_keys_below_the_level():
    with pytest.raises(QueryError) as caught:
        Query.from_params(Level.STUDY, [("orderby", "-SeriesNumber")])

    assert (
        caught.value.reason == "orderby: cannot order study results by '-SeriesNumber'"
    )


# --- access -------------------------------------------------------------------


def test_collections_restrict_every_level(stored):
    allowed = Collection.objects.create(name="allowed")
    Study.objects.get(study_instance_uid=CT_STUDY).collections.add(allowed)

    assert studies(collections=[allowed.pk]) == [CT_STUDY]
    assert studies(collections=[]) == []
    series = search(Query.from_params(Level.SERIES, [], collections=[allowed.pk])).rows
    instances = search(
        Query.from_params(Level.INSTANCE, [], collections=[allowed.pk])
    ).rows
    patients = search(
        Query.from_identifier(Dataset(), "PATIENT", "PATIENT", collections=[allowed.pk])
    ).rows
    assert [s.series_instance_uid for s in series] == [CT_SERIES]
    assert [i.sop_instance_uid for i in instances] == [CT_SOP]
    assert [p.patient_id for p in patients] == ["1CT1"]


# --- C-FIND identifiers -------------------------------------------------------


def _identifier(**keys: object) -> Dataset:
    ds = Dataset()
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def test_an_identifier_matches_like_the_same_qido_parameters(stored):
    ds = _identifier(PatientName="山田^太郎", StudyInstanceUID="", ModalitiesInStudy="")

    query = Query.from_identifier(ds, "STUDY", "STUDY")

    assert {s.study_instance_uid for s in search(query).rows} == study_set(
        ("PatientName", "山田^太郎")
    )
    assert {s.study_instance_uid for s in search(query).rows} == {H31_STUDY, H32_STUDY}


def test_an_identifier_returns_exactly_its_keys(stored):
    ds = _identifier(
        PatientName="",
        StudyInstanceUID=CT_STUDY,
        ModalitiesInStudy="",
        NumberOfStudyRelatedInstances="",
        PatientAge="",
    )
    query = Query.from_identifier(ds, "STUDY")

    rows = search(query).rows
    rendered = Renderer(query).render(rows[0])

    assert rendered == {
        "00080061": {"vr": "CS", "Value": ["CT"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "CompressedSamples^CT1"}]},
        "00101010": {"vr": "AS", "Value": ["000Y"]},
        "0020000D": {"vr": "UI", "Value": [CT_STUDY]},
        "00201208": {"vr": "IS", "Value": [1]},
    }


def test_an_identifier_at_image_level_in_the_patient_root(stored):
    ds = _identifier(PatientID="id11111", SOPInstanceUID="", InstanceNumber="")

    rows = search(Query.from_identifier(ds, "IMAGE", "PATIENT")).rows

    assert {r.series.study.study_instance_uid for r in rows} == {RTDOSE_STUDY}
    assert {r.sop_instance_uid for r in rows} == {
        "1.9.999.999.99.9.9999.9999.20030818153516"
    }


def test_an_identifier_with_uid_lists_and_unsupported_keys():
    ds = _identifier(
        StudyInstanceUID=[CT_STUDY, MR_STUDY],
        PatientAge="024Y",
        QueryRetrieveLevel="STUDY",
    )

    query = Query.from_identifier(ds, "STUDY")

    assert [(f.key.keyword, f.match.value, f.values) for f in query.filters] == [
        ("StudyInstanceUID", "list", (CT_STUDY, MR_STUDY))
    ]
    assert query.ignored == ("PatientAge",)
    assert query.return_tags == {"0020000D", "00101010"}


def test_the_study_root_has_no_patient_level():
    with pytest.raises(QueryError) as caught:
        Query.from_identifier(Dataset(), "PATIENT", "STUDY")

    assert (
        caught.value.reason
        == "QueryRetrieveLevel: the Study Root model has no PATIENT level"
    )


def test_a_patient_level_identifier_returns_patients_with_their_study_count(stored):
    ds = _identifier(
        PatientName="LASTNAME*", PatientID="", NumberOfPatientRelatedStudies=""
    )
    query = Query.from_identifier(ds, "PATIENT", "PATIENT")

    rows = search(query).rows
    rendered = [Renderer(query).render(row) for row in rows]

    assert rendered == [
        {
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Lastname^Firstname"}]},
            "00100020": {"vr": "LO", "Value": ["id11111"]},
            "00201200": {"vr": "IS", "Value": [1]},
        }
    ]
