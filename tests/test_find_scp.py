"""Query/Retrieve C-FIND SCP against dcmtk's findscu, Patient Root and
Study Root, at every level."""

from pathlib import Path

import pydicom
import pytest

from tests.archive_fixtures import (
    CT_SERIES,
    CT_SOP,
    CT_STUDY,
    H31_STUDY,
    H32_STUDY,
    MR_STUDY,
    store_samples,
)
from tests.qr_peers import HOST, listener, run

pytestmark = pytest.mark.django_db(transaction=True)

CT_PATIENT = "1CT1"


def findscu(port: int, out: Path, model: str, *keys: str) -> list[pydicom.Dataset]:
    out.mkdir()
    args = [
        "findscu",
        model,
        "-aet",
        "FINDER",
        "-aec",
        "PACSWEB",
        "-X",
        "-od",
        str(out),
    ]
    for key in keys:
        args += ["-k", key]
    result = run([*args, HOST, str(port)])
    assert result.returncode == 0, result.stderr
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


@pytest.fixture
def stored():
    store_samples()


def test_study_root_finds_studies_series_and_images(stored, tmp_path):
    with listener() as port:
        studies = findscu(
            port,
            tmp_path / "st",
            "-S",
            "QueryRetrieveLevel=STUDY",
            "PatientID=1CT1",
            "StudyInstanceUID",
            "PatientName",
            "StudyDate",
            "ModalitiesInStudy",
            "NumberOfStudyRelatedInstances",
            "RetrieveAETitle",
        )
        series = findscu(
            port,
            tmp_path / "se",
            "-S",
            "QueryRetrieveLevel=SERIES",
            f"StudyInstanceUID={CT_STUDY}",
            "SeriesInstanceUID",
            "Modality",
            "NumberOfSeriesRelatedInstances",
        )
        images = findscu(
            port,
            tmp_path / "im",
            "-S",
            "QueryRetrieveLevel=IMAGE",
            f"StudyInstanceUID={CT_STUDY}",
            f"SeriesInstanceUID={CT_SERIES}",
            "SOPInstanceUID",
            "SOPClassUID",
            "InstanceNumber",
        )

    [study] = studies
    assert study.StudyInstanceUID == CT_STUDY
    assert str(study.PatientName) == "CompressedSamples^CT1"
    assert (
        study.StudyDate,
        study.ModalitiesInStudy,
        study.NumberOfStudyRelatedInstances,
    ) == ("20040119", "CT", 1)
    assert study.RetrieveAETitle == "PACSWEB"
    assert study.QueryRetrieveLevel == "STUDY"
    assert [
        (s.SeriesInstanceUID, s.Modality, s.NumberOfSeriesRelatedInstances)
        for s in series
    ] == [(CT_SERIES, "CT", 1)]
    assert [(i.SOPInstanceUID, i.SOPClassUID) for i in images] == [
        (CT_SOP, "1.2.840.10008.5.1.4.1.1.2")
    ]


def test_patient_root_finds_patients_then_their_studies(stored, tmp_path):
    with listener() as port:
        patients = findscu(
            port,
            tmp_path / "pa",
            "-P",
            "QueryRetrieveLevel=PATIENT",
            "PatientName=compressedsamples^*",
            "PatientID",
            "NumberOfPatientRelatedStudies",
        )
        studies = findscu(
            port,
            tmp_path / "st",
            "-P",
            "QueryRetrieveLevel=STUDY",
            "PatientID=1CT1",
            "StudyInstanceUID",
        )
        series = findscu(
            port,
            tmp_path / "se",
            "-P",
            "QueryRetrieveLevel=SERIES",
            "PatientID=1CT1",
            f"StudyInstanceUID={CT_STUDY}",
            "SeriesInstanceUID",
        )
        images = findscu(
            port,
            tmp_path / "im",
            "-P",
            "QueryRetrieveLevel=IMAGE",
            "PatientID=1CT1",
            f"StudyInstanceUID={CT_STUDY}",
            f"SeriesInstanceUID={CT_SERIES}",
            "SOPInstanceUID",
        )

    assert CT_PATIENT in {p.PatientID for p in patients}
    assert all(
        str(p.PatientName).lower().startswith("compressedsamples^") for p in patients
    )
    assert [
        p.NumberOfPatientRelatedStudies for p in patients if p.PatientID == CT_PATIENT
    ] == [1]
    assert [s.StudyInstanceUID for s in studies] == [CT_STUDY]
    assert [s.SeriesInstanceUID for s in series] == [CT_SERIES]
    assert [i.SOPInstanceUID for i in images] == [CT_SOP]


def test_names_in_other_scripts_and_date_ranges_match(stored, tmp_path):
    with listener() as port:
        japanese = findscu(
            port,
            tmp_path / "ja",
            "-S",
            "QueryRetrieveLevel=STUDY",
            "SpecificCharacterSet=ISO_IR 192",
            "PatientName=山田^太郎",
            "StudyInstanceUID",
        )
        ranged = findscu(
            port,
            tmp_path / "ra",
            "-S",
            "QueryRetrieveLevel=STUDY",
            "StudyDate=20040101-20041231",
            "StudyInstanceUID",
        )

    # chrH31 and chrH32 hold the same patient, in two encodings.
    assert sorted(d.StudyInstanceUID for d in japanese) == sorted(
        [H31_STUDY, H32_STUDY]
    )
    assert sorted(d.StudyInstanceUID for d in ranged) == sorted([CT_STUDY, MR_STUDY])
    assert all(d.StudyDate.startswith("2004") for d in ranged)


def test_a_study_root_query_at_patient_level_is_refused(stored, tmp_path):
    with listener() as port:
        result = run(
            [
                "findscu",
                "-v",
                "-S",
                "-aet",
                "FINDER",
                "-aec",
                "PACSWEB",
                "-k",
                "QueryRetrieveLevel=PATIENT",
                "-k",
                "PatientID",
                HOST,
                str(port),
            ]
        )

    # 0xA900, as dcmtk names it.
    assert (
        "Final Find Response (Error: DataSetDoesNotMatchSOPClass)"
        in result.stderr + result.stdout
    )
