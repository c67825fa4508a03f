"""DICOM TLS: the listener's TLS port beside the plain one, against dcmtk's
TLS-enabled tools and pynetdicom, and SCU jobs over TLS to a dcmtk peer.

Every certificate is made by the test (tests/tls_certs.py)."""

import logging
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO

import pydicom
import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from pynetdicom import AE

from apps.archive.ingest import ingest_file
from apps.archive.models import Instance
from apps.dimse import jobs, scu, tls
from apps.dimse.listener import Listener
from apps.dimse.models import Job, RemoteAE
from tests import tls_certs
from tests.conftest import sample
from tests.qr_peers import HOST, free_port, process, run

pytestmark = pytest.mark.django_db(transaction=True)

VERIFICATION = "1.2.840.10008.1.1"


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> tls_certs.Certificates:
    return tls_certs.make(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def tls_settings(settings, certs):
    settings.PACSWEB_DICOM_TLS_CERT = str(certs.server.cert)
    settings.PACSWEB_DICOM_TLS_KEY = str(certs.server.key)
    settings.PACSWEB_DICOM_TLS_CA = str(certs.ca)
    settings.PACSWEB_DICOM_TLS_CLIENT_CERT = str(certs.client.cert)
    settings.PACSWEB_DICOM_TLS_CLIENT_KEY = str(certs.client.key)
    settings.PACSWEB_DICOM_TLS_CLIENT_CA = str(certs.ca)
    settings.PACSWEB_REQUIRE_KNOWN_AE = False
    return settings


@contextmanager
def tls_listener() -> Iterator[tuple[int, int]]:
    """The listener with both ports open; (plain port, TLS port)."""
    server = Listener(host=HOST, port=0, ae_title="PACSWEB", tls_port=0)
    _, plain = server.start()
    assert server.tls_address is not None
    try:
        yield plain, server.tls_address[1]
    finally:
        server.stop(grace_seconds=5)


def dcmtk_tls(pair: tls_certs.Pair, ca) -> list[str]:
    return ["+tls", str(pair.key), str(pair.cert), "+cf", str(ca)]


def echoscu(port: int, *args: str) -> str:
    result = run(
        ["echoscu", "-v", "-aet", "TLSSCU", "-aec", "PACSWEB", *args, HOST, str(port)]
    )
    return result.stdout + result.stderr


def pynetdicom_echo(port: int, context: ssl.SSLContext | None) -> int | None:
    """C-ECHO with pynetdicom; the status, or None without an association."""
    ae = AE("PYSCU")
    ae.add_requested_context(VERIFICATION)
    ae.acse_timeout = ae.connection_timeout = ae.network_timeout = 5
    tls_args = (context, HOST) if context is not None else None
    assoc = ae.associate(HOST, port, ae_title="PACSWEB", tls_args=tls_args)
    try:
        if not assoc.is_established:
            return None
        status = assoc.send_c_echo()
        assoc.release()
        return int(status.Status)
    finally:
        ae.shutdown()


def client_context(certs, pair: tls_certs.Pair | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    if pair is not None:
        context.load_cert_chain(str(pair.cert), str(pair.key))
    return context


def test_echoscu_over_tls_and_plain_echo_at_the_same_time(tls_settings, certs):
    with tls_listener() as (plain, secure):
        over_tls = echoscu(secure, *dcmtk_tls(certs.client, certs.ca))
        over_plain = echoscu(plain)
        plain_on_tls_port = pynetdicom_echo(secure, None)

    assert "Received Echo Response (Success)" in over_tls
    assert "Received Echo Response (Success)" in over_plain
    # A plain client on the TLS port gets no association.
    assert plain_on_tls_port is None


def test_storescu_over_tls_stores_the_instance(tls_settings, certs):
    original = pydicom.dcmread(sample("CT_small.dcm"))

    with tls_listener() as (_, secure):
        result = run(
            [
                "storescu",
                "-v",
                "-aet",
                "TLSSCU",
                "-aec",
                "PACSWEB",
                *dcmtk_tls(certs.client, certs.ca),
                HOST,
                str(secure),
                str(sample("CT_small.dcm")),
            ]
        )

    assert "Received Store Response (Success)" in result.stderr, result.stderr
    stored = Instance.objects.select_related("series__study__patient").get()
    assert stored.sop_instance_uid == original.SOPInstanceUID
    assert stored.series.study.study_instance_uid == original.StudyInstanceUID
    assert stored.series.study.patient.patient_id == original.PatientID
    assert stored.source_ae_title == "TLSSCU"


def test_a_client_certificate_from_an_untrusted_ca_is_refused(
    tls_settings, certs, caplog
):
    with (
        caplog.at_level(logging.WARNING, logger="apps.dimse.tls"),
        tls_listener() as (plain, secure),
    ):
        rogue = echoscu(secure, *dcmtk_tls(certs.rogue, certs.ca))
        rogue_pynetdicom = pynetdicom_echo(secure, client_context(certs, certs.rogue))
        without_certificate = pynetdicom_echo(secure, client_context(certs, None))
        trusted = pynetdicom_echo(secure, client_context(certs, certs.client))
        plain_still = echoscu(plain)

    assert "Received Echo Response" not in rogue
    assert rogue_pynetdicom is None
    assert without_certificate is None
    assert trusted == 0x0000
    assert "Received Echo Response (Success)" in plain_still
    refusals = [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("TLS handshake from 127.0.0.1:")
    ]
    assert len(refusals) == 3, refusals


def test_a_revoked_client_certificate_is_refused_and_a_new_crl_needs_no_restart(
    tls_settings, certs, tmp_path
):
    crl = tls_certs.write_crl(certs, [], tmp_path / "ca.crl")
    tls_settings.PACSWEB_DICOM_TLS_CRL = str(crl)

    with tls_listener() as (_, secure):
        before = echoscu(secure, *dcmtk_tls(certs.client, certs.ca))
        # The CA revokes the client's certificate and publishes a new list.
        tls_certs.write_crl(certs, [certs.client], crl)
        revoked = echoscu(secure, *dcmtk_tls(certs.client, certs.ca))
        revoked_pynetdicom = pynetdicom_echo(
            secure, client_context(certs, certs.client)
        )
        other_station = pynetdicom_echo(secure, client_context(certs, certs.station))

    assert "Received Echo Response (Success)" in before
    assert "Received Echo Response" not in revoked
    assert revoked_pynetdicom is None
    assert other_station == 0x0000


def test_an_scu_job_does_not_speak_to_a_peer_whose_certificate_is_revoked(
    tls_settings, certs, tmp_path
):
    tls_settings.PACSWEB_DICOM_TLS_CLIENT_CRL = str(
        tls_certs.write_crl(certs, [certs.server], tmp_path / "ca.crl")
    )

    with tls_listener() as (_, secure):
        revoked_peer = pynetdicom_echo(secure, tls.client_context())
        tls_settings.PACSWEB_DICOM_TLS_CLIENT_CRL = str(
            tls_certs.write_crl(certs, [], tmp_path / "clean.crl")
        )
        trusted_peer = pynetdicom_echo(secure, tls.client_context())

    assert revoked_peer is None
    assert trusted_peer == 0x0000


def test_an_unreadable_crl_fails_the_system_check(tls_settings, tmp_path):
    tls_settings.PACSWEB_DICOM_TLS_PORT = 11113
    tls_settings.PACSWEB_DICOM_TLS_CRL = str(tmp_path / "missing.crl")

    ids = [message.id for message in run_checks()]

    assert "dimse.E003" in ids


def test_an_ae_bound_to_a_certificate_must_show_that_certificate(
    tls_settings, certs, caplog
):
    # A modality's AE title is easy to claim; its private key is not.
    tls_settings.PACSWEB_REQUIRE_KNOWN_AE = True
    RemoteAE.objects.create(
        ae_title="TLSSCU", host=HOST, port=104, certificate_name="client"
    )

    with (
        caplog.at_level(logging.WARNING, logger="apps.dimse"),
        tls_listener() as (plain, secure),
    ):
        own_certificate = echoscu(secure, *dcmtk_tls(certs.client, certs.ca))
        other_certificate = echoscu(secure, *dcmtk_tls(certs.station, certs.ca))
        plain_port = echoscu(plain)

    assert "Received Echo Response (Success)" in own_certificate
    assert "Association Rejected" in other_certificate
    assert "Association Rejected" in plain_port
    reasons = " ".join(r.getMessage() for r in caplog.records)
    assert "TLSSCU must show the client certificate 'client', not station" in reasons
    assert (
        "TLSSCU must associate over TLS with the client certificate 'client'" in reasons
    )


def test_without_a_ca_any_tls_client_may_connect(tls_settings, certs):
    tls_settings.PACSWEB_DICOM_TLS_CA = ""

    with tls_listener() as (_, secure):
        status = pynetdicom_echo(secure, client_context(certs, None))

    assert status == 0x0000


def test_the_minimum_tls_version_setting_is_enforced(tls_settings, certs):
    tls_12 = client_context(certs, certs.client)
    tls_12.maximum_version = ssl.TLSVersion.TLSv1_2

    with tls_listener() as (_, secure):
        by_default = pynetdicom_echo(secure, tls_12)
    tls_settings.PACSWEB_DICOM_TLS_MIN_VERSION = "1.3"
    with tls_listener() as (_, secure):
        with_1_3_required = pynetdicom_echo(secure, tls_12)

    assert by_default == 0x0000
    assert with_1_3_required is None


@contextmanager
def tls_storescp(tmp_path, certs) -> Iterator[RemoteAE]:
    """dcmtk's storescp on TLS, requiring a client certificate from our CA."""
    port = free_port()
    out = tmp_path / "received"
    out.mkdir()
    remote = RemoteAE.objects.create(
        ae_title="TLSSTORE", host=HOST, port=port, use_tls=True
    )
    server = tls_certs.Pair(certs.server.cert, certs.server.key)
    with process(
        ["storescp", "-aet", "TLSSTORE", "-od", str(out), "-rc"]
        + dcmtk_tls(server, certs.ca)
        + [str(port)],
        port,
    ):
        yield remote


def test_send_and_echo_jobs_reach_a_tls_peer(tls_settings, certs, tmp_path):
    ingest_file(sample("CT_small.dcm"))
    study = pydicom.dcmread(sample("CT_small.dcm")).StudyInstanceUID

    with tls_storescp(tmp_path, certs) as remote:
        echo = jobs.run(jobs.create(Job.Kind.ECHO, remote).pk)
        send = jobs.run(
            jobs.create(Job.Kind.STORE, remote, {"level": "STUDY", "uids": [study]}).pk
        )

    assert echo.state == Job.State.SUCCEEDED, echo.message
    assert send.state == Job.State.SUCCEEDED, send.message
    assert (send.progress_done, send.progress_total) == (1, 1)
    [received] = list((tmp_path / "received").iterdir())
    assert (
        pydicom.dcmread(received).SOPInstanceUID
        == pydicom.dcmread(sample("CT_small.dcm")).SOPInstanceUID
    )


def test_a_tls_peer_we_do_not_trust_is_not_spoken_to(tls_settings, certs, tmp_path):
    tls_settings.PACSWEB_DICOM_TLS_CLIENT_CA = str(certs.rogue_ca)

    with tls_storescp(tmp_path, certs) as remote:
        with pytest.raises(scu.PeerUnavailable):
            scu.echo(scu.Peer.of(remote))

    assert list((tmp_path / "received").iterdir()) == []


def test_without_use_tls_a_job_speaks_plain_dicom(tls_settings, certs, tmp_path):
    with tls_storescp(tmp_path, certs) as remote:
        plain = scu.Peer(remote.ae_title, remote.host, remote.port)
        with pytest.raises(scu.PeerUnavailable):
            scu.echo(plain)
        assert scu.echo(scu.Peer.of(remote)) == 0x0000


def test_an_unreadable_certificate_fails_the_system_check(settings, certs, tmp_path):
    settings.PACSWEB_DICOM_TLS_PORT = 2762
    settings.PACSWEB_DICOM_TLS_CERT = str(tmp_path / "missing.crt")
    settings.PACSWEB_DICOM_TLS_KEY = str(certs.server.key)
    settings.PACSWEB_DICOM_TLS_CA = ""

    errors = [e for e in run_checks() if e.id.startswith("dimse.")]

    assert [e.id for e in errors] == ["dimse.E003"]
    assert "missing.crt" in errors[0].msg


def test_a_key_that_does_not_match_the_certificate_fails_the_check(settings, certs):
    settings.PACSWEB_DICOM_TLS_PORT = 2762
    settings.PACSWEB_DICOM_TLS_CERT = str(certs.server.cert)
    settings.PACSWEB_DICOM_TLS_KEY = str(certs.client.key)

    assert [e.id for e in run_checks() if e.id.startswith("dimse.")] == ["dimse.E003"]


def test_an_unreadable_client_ca_fails_the_check(settings, tmp_path):
    settings.PACSWEB_DICOM_TLS_CLIENT_CA = str(tmp_path / "nope.pem")

    assert [e.id for e in run_checks() if e.id.startswith("dimse.")] == ["dimse.E005"]


def test_a_tls_port_without_a_certificate_does_not_start(settings):
    settings.PACSWEB_DICOM_TLS_CERT = ""

    with pytest.raises(ValueError, match="PACSWEB_DICOM_TLS_CERT"):
        Listener(host=HOST, port=0, tls_port=0).start()


def test_c_move_to_a_tls_destination_goes_over_tls(tls_settings, certs, tmp_path):
    ingest_file(sample("CT_small.dcm"))
    original = pydicom.dcmread(sample("CT_small.dcm"))

    with tls_storescp(tmp_path, certs), tls_listener() as (plain, _):
        result = run(
            ["movescu", "-v", "-S", "-aet", "MOVER", "-aec", "PACSWEB"]
            + ["-aem", "TLSSTORE", "-k", "QueryRetrieveLevel=STUDY"]
            + ["-k", f"StudyInstanceUID={original.StudyInstanceUID}", HOST, str(plain)]
        )

    assert "Received Final Move Response (Success)" in result.stderr, result.stderr
    [received] = list((tmp_path / "received").iterdir())
    assert pydicom.dcmread(received).SOPInstanceUID == original.SOPInstanceUID


def test_remote_ae_add_with_tls_marks_the_peer_for_tls():
    out = StringIO()
    call_command("remote_ae", "add", "SECURE", "127.0.0.1", "2762", "--tls", stdout=out)
    call_command("remote_ae", "list", stdout=out)

    remote = RemoteAE.objects.get(ae_title="SECURE")
    assert remote.use_tls is True
    assert scu.Peer.of(remote) == scu.Peer("SECURE", "127.0.0.1", 2762, True)
    assert out.getvalue().splitlines()[-1].endswith("move destination  TLS")


def test_a_silent_connection_does_not_hold_up_other_tls_clients(tls_settings, certs):
    with tls_listener() as (_, secure), socket.create_connection((HOST, secure)):
        # The silent connection above never starts its handshake.
        started = time.monotonic()
        status = pynetdicom_echo(secure, client_context(certs, certs.client))
        elapsed = time.monotonic() - started

    assert status == 0x0000
    assert elapsed < 5
