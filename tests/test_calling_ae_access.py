"""Only known calling AE titles may associate when the setting says so."""

import logging

import pytest

from apps.archive.models import Instance
from apps.dimse.models import RemoteAE
from tests.conftest import sample
from tests.qr_peers import HOST, listener, run

pytestmark = pytest.mark.django_db(transaction=True)


def echo(port: int, calling: str) -> str:
    result = run(["echoscu", "-v", "-aet", calling, "-aec", "PACSWEB", HOST, str(port)])
    return result.stdout + result.stderr


def test_an_unknown_calling_ae_is_rejected_and_logged(settings, caplog):
    settings.PACSWEB_REQUIRE_KNOWN_AE = True
    RemoteAE.objects.create(ae_title="KNOWN", host=HOST, port=104)

    with (
        caplog.at_level(logging.WARNING, logger="apps.dimse.listener"),
        listener() as port,
    ):
        stranger = echo(port, "STRANGER")
        known = echo(port, "KNOWN")

    assert "Association Rejected" in stranger
    assert "Reason: Calling AE Title Not Recognized" in stranger
    assert "Rejected Permanent" in stranger
    assert "Received Echo Response (Success)" in known
    assert any(
        "STRANGER" in r.getMessage() and "not recognized" in r.getMessage()
        for r in caplog.records
    )


def test_with_no_known_ae_at_all_everybody_is_rejected(settings):
    settings.PACSWEB_REQUIRE_KNOWN_AE = True

    with listener() as port:
        output = echo(port, "ANYONE")

    assert "Reason: Calling AE Title Not Recognized" in output


def test_the_embedded_demo_accepts_anybody(settings):
    settings.PACSWEB_REQUIRE_KNOWN_AE = False

    with listener() as port:
        output = echo(port, "ANYONE")

    assert "Received Echo Response (Success)" in output


def test_a_known_ae_may_only_use_the_operations_it_is_allowed(settings):
    settings.PACSWEB_REQUIRE_KNOWN_AE = True
    RemoteAE.objects.create(ae_title="NOQUERY", host=HOST, port=104, allow_query=False)

    with listener() as port:
        result = run(
            [
                "findscu",
                "-v",
                "-S",
                "-aet",
                "NOQUERY",
                "-aec",
                "PACSWEB",
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                "StudyInstanceUID",
                HOST,
                str(port),
            ]
        )

    # 0x0124 Refused: Not Authorized (PS3.7 C.5.18), which dcmtk's
    # C-FIND status table does not name.
    assert (
        "Final Find Response (Unknown Status: 0x124)" in result.stdout + result.stderr
    )


def test_a_known_ae_without_the_store_operation_may_not_store(settings, tmp_path):
    settings.PACSWEB_REQUIRE_KNOWN_AE = True
    RemoteAE.objects.create(ae_title="VIEWONLY", host=HOST, port=104, allow_store=False)

    with listener() as port:
        result = run(
            [
                "storescu",
                "-v",
                "-aet",
                "VIEWONLY",
                "-aec",
                "PACSWEB",
                HOST,
                str(port),
                str(sample("CT_small.dcm")),
            ]
        )

    # 0x0124 Refused: Not Authorized, which dcmtk does not name.
    assert "Received Store Response (Unknown Status: 0x124)" in result.stderr
    assert not Instance.objects.exists()
