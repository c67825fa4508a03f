"""The benchmark harness itself: its dataset and its answer checks.

No timing here: `make bench` measures, tests only pin behaviour.
"""

import time
from pathlib import Path

import psycopg
import pydicom
import pytest
import redis

from apps.archive.ingest import is_valid_uid
from bench import production_report, queries
from bench.__main__ import parse_args
from bench.client import NotMeasurable, query_string
from bench.dataset import Shape, load_or_generate, viewer_study
from bench.ingest import RUNS, slices
from bench.procs import Child, wait_until
from bench.production import task_backlog
from bench.production_report import Results
from bench.queries import Query, _run
from bench.report import write_section
from bench.retrieve import _data_set
from bench.servers import (
    OrthancIndex,
    Production,
    orthanc_index_config,
    production_environment,
)
from bench.services import (
    DEFAULT_ADMIN_URL,
    database_exists,
    database_name,
    own_redis,
    scratch_database,
    with_database,
)
from bench.stages import checkpoints, production_shape, stages
from bench.stats import Figure

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


# --- The production-like profile (make bench-production) -------------------


def test_it_measures_at_a_tenth_half_and_all_of_the_instances_by_default():
    assert checkpoints(100_000) == [10_000, 50_000, 100_000]
    assert checkpoints(100_000, "50000,10000") == [10_000, 50_000]
    with pytest.raises(SystemExit, match="--checkpoints"):
        checkpoints(2_000, "1000,3000")


def test_it_scales_the_embedded_proportions_to_the_instance_count():
    args = parse_args(["--profile", "production", "--instances", "100000"])

    shape = production_shape(args)

    assert (shape.patients, shape.studies_per_patient) == (2500, 2)
    assert (shape.series_per_study, shape.instances_per_series) == (4, 5)
    assert shape.instances == 100_000
    assert args.workers == 4  # several web processes
    assert parse_args([]).workers == 2  # as `make run` starts it


def test_it_loads_whole_studies_once_and_times_ingest_on_each_stage_tail(dataset):
    plan = stages(dataset, [8, 24], rate_sample=1000)

    assert [stage.size for stage in plan] == [8, 24]
    assert [len(stage.loaded) for stage in plan] == [2, 6]
    per_stage = [
        stage.bulk + [i for _, part in stage.rates for i in part] for stage in plan
    ]
    sops = [i.sop_instance_uid for part in per_stage for i in part]
    assert sorted(sops) == sorted(
        i.sop_instance_uid for _, _, i in dataset.all_instances()
    )
    assert len(sops) == len(set(sops))
    # The last stage (four 4-instance studies) keeps one study for the bulk
    # load and times the first three rows on the others, one study each.
    last = plan[1]
    assert [run.key for run, _ in last.rates] == [r.key for r in RUNS[:3]]
    assert [len(part) for _, part in last.rates] == [4, 4, 4]
    assert [i.sop_instance_uid for i in last.bulk] == [
        i.sop_instance_uid for se in dataset.studies[2].series for i in se.instances
    ]
    assert [run.key for run, _ in plan[0].rates] == ["ingest_stow_1"]


def test_it_names_its_databases_so_that_they_cannot_escape_the_sql():
    assert database_name("orthanc", "123_ab") == "pacsweb_bench_123_ab_orthanc"
    with pytest.raises(ValueError, match="unsafe"):
        database_name('x"; DROP DATABASE postgres; --')
    assert (
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "pacsweb_bench_1")
        == "postgres://postgres@127.0.0.1:5432/pacsweb_bench_1"
    )


def _postgres_or_skip() -> str:
    try:
        psycopg.connect(DEFAULT_ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        pytest.skip(f"no PostgreSQL at {DEFAULT_ADMIN_URL}: {exc}")
    return DEFAULT_ADMIN_URL


def test_it_creates_a_scratch_database_and_drops_it_even_when_connected():
    admin = _postgres_or_skip()
    name = database_name("test")

    with scratch_database(admin, name) as scratch:
        assert database_exists(admin, name)
        held = psycopg.connect(scratch.url)  # as a server under test would
        assert held.execute("SELECT current_database()").fetchone() == (name,)

    assert not database_exists(admin, name)
    assert _dead(held)
    held.close()


def _dead(conn: psycopg.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


def test_it_starts_its_own_redis_counts_the_task_backlog_and_stops_it(tmp_path):
    with own_redis(tmp_path / "redis") as broker:
        client = redis.Redis.from_url(broker.url)
        client.rpush("thumbnails", "a", "b")
        client.rpush("ingest\x06\x163", "c")  # a queue at another priority
        client.hset("unacked", "tag", "d")
        client.set("celery-unrelated", "e")

        assert task_backlog(broker.url) == 4
        client.close()

    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(broker.url, socket_timeout=1).ping()


def test_it_stops_a_process_group_with_its_grandchildren(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    child = Child(
        "sh",
        ["sh", "-c", f"sleep 300 & echo $! > {pid_file}; wait"],
        tmp_path / "sh.log",
        group=True,
    )
    wait_until(child, lambda: pid_file.exists() and pid_file.read_text(), "pid")
    grandchild = int(pid_file.read_text())

    child.stop()

    assert not child.alive()
    # SIGKILL is delivered at once but the exit itself is asynchronous.
    deadline = time.monotonic() + 10
    while _running(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(grandchild)


def _running(pid: int) -> bool:
    # Gone, or a zombie that this container's init has not reaped yet.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_it_configures_orthanc_with_its_postgresql_index():
    config = orthanc_index_config(
        OrthancIndex("postgres://postgres@127.0.0.1:5432/pacsweb_bench_1_orthanc", 4)
    )

    assert config["Plugins"][-1].endswith("libOrthancPostgreSQLIndex.so")
    assert config["PostgreSQL"]["EnableIndex"] is True
    assert config["PostgreSQL"]["EnableStorage"] is False
    assert config["PostgreSQL"]["ConnectionUri"].endswith("/pacsweb_bench_1_orthanc")
    assert config["PostgreSQL"]["IndexConnectionsCount"] == 4


def test_it_runs_pacsweb_with_production_settings():
    env = production_environment(
        Production("postgres://h/db", "redis://127.0.0.1:1/0", 2), 4, 8
    )

    assert env["PACSWEB_PRODUCTION"] == "1"
    assert env["DATABASE_URL"] == "postgres://h/db"
    assert env["CELERY_BROKER_URL"] == "redis://127.0.0.1:1/0"
    assert (env["PACSWEB_HTTP_WORKERS"], env["PACSWEB_HTTP_THREADS"]) == ("4", "8")
    assert len(env["DJANGO_SECRET_KEY"]) >= 50


def _growth_results() -> Results:
    return {
        "pacsweb": {
            4: {"qido_patient_id": Figure(8.0, 12.0), "ingest_stow_1": Figure(50)},
            8: {"qido_patient_id": Figure(10.0, 18.0), "ingest_stow_1": Figure(40)},
        },
        "Orthanc": {
            4: {"qido_patient_id": Figure(4.0, 6.0), "ingest_stow_1": Figure(200)},
            8: {
                "qido_patient_id": Figure.missing("returned 0 results"),
                "ingest_stow_1": Figure(100),
            },
        },
    }


def test_it_renders_figures_at_each_size_and_how_they_grew(dataset):
    results = _growth_results()
    rows = production_report.metrics(queries.build(dataset, 2), "Bulk load")

    text = production_report.markdown(results, rows, {"CPU": "x"}, dataset, {}, 60)

    assert "## Production-like set-up, up to 8 instances" in text
    assert "| Measurement | Unit | Server | 4 | 8 | last / first |" in text
    assert (
        "| QIDO-RS studies by PatientID | ms p50 / p95 | pacsweb"
        " | 8.0 / 12.0 | 10.0 / 18.0 | 1.25 / 1.50 |"
    ) in text
    assert (
        "| Ingest, STOW-RS, 1 client | inst/s | Orthanc | 200.0 | 100.0 | 0.50 |"
        in text
    )
    # Side by side at the largest size, with Orthanc's failure explained.
    assert "| Ingest, STOW-RS, 1 client | inst/s | 40.0 | 100.0 | 0.40 | ≥ 1 |" in text
    assert (
        "- at 8: **Orthanc** — QIDO-RS studies by PatientID — "
        "not measured: returned 0 results"
    ) in text
    assert "- The run stored its first 8 instances (2 studies)" in text


def test_it_rewrites_only_its_own_section_of_the_page(tmp_path):
    page = tmp_path / "performance.md"

    write_section(page, "embedded", "# Performance\n\nold embedded")
    write_section(page, "production", "## Production\n\nfirst")
    write_section(page, "embedded", "# Performance\n\nnew embedded")
    write_section(page, "production", "## Production\n\nsecond")

    text = page.read_text()
    assert "old embedded" not in text and "first" not in text
    assert text.index("new embedded") < text.index("second")
    assert text.count("<!-- bench:embedded begin -->") == 1
    assert text.count("<!-- bench:production end -->") == 1
