"""The listener's plumbing: association log, receiving to disk, config checks."""

import logging

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from apps.archive import storage
from apps.dimse import store
from apps.dimse.checks import check_ae_title
from tests.conftest import sample
from tests.dimse_support import echoscu, send_raw


def test_it_logs_one_line_per_association_naming_the_peer(dicom_listener, caplog):
    with caplog.at_level(logging.INFO, logger="apps.dimse"):
        echoscu(dicom_listener, "-aet", "WORKSTATION7")

    lines = [r.getMessage() for r in caplog.records if r.name.startswith("apps.dimse")]
    assert len(lines) == 1
    assert lines[0].startswith("association accepted from WORKSTATION7 at 127.0.0.1:")
    assert lines[0].endswith("(called PACSWEB)")


def test_it_receives_data_sets_to_files_in_the_store_not_to_memory(
    dicom_listener, monkeypatch
):
    seen = {}
    real_ingest = store.ingest_file

    def watching_ingest(path, **kwargs):
        seen["receiving"] = sorted(
            p.name.split("-")[0] for p in storage.tmp_dir().iterdir()
        )
        seen["spooled"] = path.read_bytes()
        return real_ingest(path, **kwargs)

    monkeypatch.setattr(store, "ingest_file", watching_ingest)

    send_raw(dicom_listener, [sample("CT_small.dcm")])

    # pynetdicom's received file and the PS3.10 file handed to ingest,
    # both in the store's receiving area.
    assert seen["receiving"] == ["dimse", "rcv"]
    assert seen["spooled"][128:132] == b"DICM"
    assert seen["spooled"].endswith(sample("CT_small.dcm").read_bytes()[-4096:])
    assert list(storage.tmp_dir().iterdir()) == []


@pytest.mark.parametrize(
    "title, check_id",
    [
        ("A" * 17, "dimse.E001"),
        ("   ", "dimse.E001"),
        ("PACS\\WEB", "dimse.E002"),
        ("PÄCS", "dimse.E002"),
    ],
)
def test_a_malformed_ae_title_stops_start_up(settings, title, check_id):
    settings.PACSWEB_AE_TITLE = title

    assert [message.id for message in check_ae_title(None)] == [check_id]
    with pytest.raises(SystemCheckError, match=check_id):
        call_command("check")


def test_a_valid_ae_title_passes(settings):
    settings.PACSWEB_AE_TITLE = "PACS WEB-1"

    assert check_ae_title(None) == []
