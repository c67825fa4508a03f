"""The benchmark harness itself: its dataset and its answer checks.

No timing here: `make bench` measures, tests only pin behaviour.
"""

from pathlib import Path

import pydicom
import pytest

from apps.archive.ingest import is_valid_uid
from bench.client import NotMeasurable, query_string
from bench.dataset import Shape, load_or_generate, viewer_study
from bench.ingest import slices
from bench.queries import Query, _run
from bench.retrieve import _data_set

SHAPE = Shape(
    patients=3, studies_per_patient=2, series_per_study=2, instances_per_series=2
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return load_or_generate(tmp_path_factory.mktemp("bench"), SHAPE)


def test_it_generates_valid_unique_uids_for_every_level(dataset):
    studies = [s.study_instance_uid for s in dataset.studies]
    series = [se.series_instance_uid for _, se in dataset.all_series()]
    sops = [i.sop_instance_uid for _, _, i in dataset.all_instances()]

    uids = studies + series + sops
    assert len(sops) == SHAPE.instances == 24
    assert len(set(uids)) == len(uids) == 6 + 12 + 24
    assert all(is_valid_uid(uid) for uid in uids)


def test_it_writes_files_that_carry_the_manifest_identity(dataset):
    study, series, instance = dataset.all_instances()[5]

    ds = pydicom.dcmread(dataset.path(instance))

    assert ds.SOPInstanceUID == instance.sop_instance_uid
    assert ds.file_meta.MediaStorageSOPInstanceUID == instance.sop_instance_uid
    assert ds.SeriesInstanceUID == series.series_instance_uid
    assert ds.StudyInstanceUID == study.study_instance_uid
    assert str(ds.PatientName) == study.patient_name
    assert ds.PatientID == study.patient_id
    assert ds.StudyDate == study.study_date
    assert ds.Modality == series.modality
    assert dataset.path(instance).stat().st_size == instance.size
    assert (ds.Rows, ds.Columns) == (instance.rows, instance.columns)


def test_it_shrinks_native_images_and_keeps_their_pixels_decodable(dataset):
    native = [i for _, _, i in dataset.all_instances() if i.native]

    shapes = {pydicom.dcmread(dataset.path(i)).pixel_array.shape[:2] for i in native}

    assert shapes <= {(64, 64), (60, 80)}


def test_it_reuses_a_complete_folder_with_the_same_uids(dataset, tmp_path):
    again = load_or_generate(dataset.folder.parent, SHAPE)
    other_seed = load_or_generate(tmp_path, Shape(3, 2, 2, 2, seed=2))

    assert [s.study_instance_uid for s in again.studies] == [
        s.study_instance_uid for s in dataset.studies
    ]
    assert not {s.study_instance_uid for s in other_seed.studies} & {
        s.study_instance_uid for s in dataset.studies
    }


def test_it_cuts_the_dataset_into_disjoint_slices_that_cover_it(dataset):
    parts = slices(dataset, 5)

    sops = [i.sop_instance_uid for part in parts for i in part]
    assert sorted(sops) == sorted(
        i.sop_instance_uid for _, _, i in dataset.all_instances()
    )
    assert len(sops) == len(set(sops))


def test_it_keeps_wildcards_and_encodes_non_ascii_in_queries():
    text = query_string({"PatientName": "MÜLL*", "StudyDate": "20200101-20200131"})

    assert text == "PatientName=M%C3%9CLL*&StudyDate=20200101-20200131"


def test_it_refuses_a_search_answer_with_a_missing_result(monkeypatch):
    query = Query(
        "/studies", {"PatientID": "X"}, "0020000D", frozenset({"1.2.3", "1.2.4"}), 100
    )
    answer = [{"0020000D": {"vr": "UI", "Value": ["1.2.3"]}}]
    monkeypatch.setattr("bench.queries.qido", lambda target, path, params: answer)

    with pytest.raises(NotMeasurable, match="returned 1 results .* expected 2"):
        _run(None, query)


def test_it_compares_data_sets_without_their_file_meta(dataset):
    instance = dataset.all_instances()[0][2]
    original = dataset.path(instance).read_bytes()
    ds = pydicom.dcmread(dataset.path(instance))
    ds.file_meta.ImplementationVersionName = "OTHER_SCP"
    rewritten = Path(dataset.folder / "rewritten.dcm")
    ds.save_as(rewritten, enforce_file_format=True)

    assert rewritten.read_bytes() != original
    assert _data_set(rewritten.read_bytes()) == _data_set(original)


def test_it_writes_the_viewer_ct_series_apart_from_the_dataset(dataset, tmp_path):
    study = viewer_study(tmp_path, 200, seed=1)

    assert len(study.studies) == 1 and len(study.studies[0].series) == 1
    series = study.studies[0].series[0]
    sops = [i.sop_instance_uid for i in series.instances]
    assert len(set(sops)) == len(sops) == 200
    assert series.modality == "CT"
    assert {(i.rows, i.columns, i.native) for i in series.instances} == {
        (128, 128, True)
    }
    last = pydicom.dcmread(study.path(series.instances[-1]))
    assert last.InstanceNumber == 200
    assert last.StudyInstanceUID == study.studies[0].study_instance_uid
    assert (last.PatientID, last.AccessionNumber) == ("BVIEWER", "AVIEWER")
    # Nothing it holds is in the searched dataset.
    theirs = {s.study_instance_uid for s in dataset.studies}
    theirs |= {s.patient_id for s in dataset.studies}
    theirs |= {s.accession_number for s in dataset.studies}
    assert not theirs & {last.StudyInstanceUID, last.PatientID, last.AccessionNumber}
