"""The management commands: remote_ae, worklist, mpps and dimse."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.dimse.models import RemoteAE
from apps.worklist.models import ScheduledProcedureStep
from tests.archive_fixtures import CT_STUDY, store_samples
from tests.qr_peers import HOST, free_port, listener
from tests.worklist_data import worklist_dataset, write_worklist_file

pytestmark = pytest.mark.django_db(transaction=True)


def command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_remote_ae_add_list_and_remove():
    added = command(
        "remote_ae",
        "add",
        "MODALITY1",
        "10.0.0.5",
        "104",
        "--ops",
        "store,worklist,mpps",
        "--no-move-destination",
    )
    command("remote_ae", "add", "PACS2", "127.0.0.1", "11113")
    listing = command("remote_ae", "list")
    removed = command("remote_ae", "remove", "PACS2")

    modality = RemoteAE.objects.get(ae_title="MODALITY1")
    assert added.startswith("added MODALITY1@10.0.0.5:104")
    assert (
        modality.operations == ["store", "worklist", "mpps"]
        and not modality.is_move_destination
    )
    assert (
        "PACS2" in listing
        and "store,query,retrieve,worklist,mpps  move destination" in listing
    )
    assert removed.strip() == "removed PACS2"
    assert list(RemoteAE.objects.values_list("ae_title", flat=True)) == ["MODALITY1"]


def test_remote_ae_refuses_bad_input():
    with pytest.raises(CommandError, match="unknown operations: print"):
        command("remote_ae", "add", "X", "h", "104", "--ops", "print")
    with pytest.raises(CommandError, match="port"):
        command("remote_ae", "add", "X", "h", "70000")
    with pytest.raises(CommandError, match="no remote AE"):
        command("remote_ae", "remove", "NOBODY")


def test_worklist_add_then_query_and_mpps_create_set_show(tmp_path):
    path = write_worklist_file(tmp_path / "wl.dcm", worklist_dataset())
    uid = "1.2.826.0.1.3680043.9.7133.2.9"
    (tmp_path / "create.json").write_text(
        json.dumps(
            {
                "00400252": {"vr": "CS", "Value": ["IN PROGRESS"]},
                "00400270": {
                    "vr": "SQ",
                    "Value": [
                        {
                            "0020000D": {
                                "vr": "UI",
                                "Value": ["1.2.826.0.1.3680043.9.7133.1.1"],
                            },
                            "00400009": {"vr": "SH", "Value": ["SPS-001"]},
                        }
                    ],
                },
            }
        )
    )
    (tmp_path / "set.json").write_text(
        json.dumps({"00400252": {"vr": "CS", "Value": ["COMPLETED"]}})
    )

    loaded = command("worklist", "add", str(path))
    with listener() as port:
        peer = f"PACSWEB@{HOST}:{port}"
        found = json.loads(
            command(
                "worklist",
                "query",
                peer,
                "-k",
                "ScheduledProcedureStepSequence.Modality=CT",
                "-k",
                "AccessionNumber",
            )
        )
        command("mpps", "create", peer, uid, str(tmp_path / "create.json"))
        command("mpps", "set", peer, uid, str(tmp_path / "set.json"))
    shown = json.loads(command("mpps", "show", uid))

    assert "ACC-001" in loaded and "SPS-001" in loaded
    assert [item["00080050"]["Value"] for item in found] == [["ACC-001"]]
    assert shown["00400252"]["Value"] == ["COMPLETED"]
    assert ScheduledProcedureStep.objects.get().status == "COMPLETED"


def test_dimse_echo_and_find_succeed_and_a_dead_peer_fails():
    store_samples(("CT_small.dcm",))

    with listener() as port:
        peer = f"PACSWEB@{HOST}:{port}"
        echoed = command("dimse", "echo", peer)
        found = json.loads(
            command(
                "dimse", "find", peer, "-k", "PatientID=1CT1", "-k", "StudyInstanceUID"
            )
        )
    with pytest.raises(CommandError, match="could not associate"):
        command("dimse", "echo", f"GONE@{HOST}:{free_port()}")

    assert echoed.strip().endswith("success")
    assert [m["0020000D"]["Value"] for m in found] == [[CT_STUDY]]


def test_mpps_show_of_an_unknown_step_fails():
    with pytest.raises(CommandError, match="no performed procedure step"):
        command("mpps", "show", "1.2.3")
