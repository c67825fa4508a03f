"""A known calling AE title is accepted only from its RemoteAE's host."""

import logging
import socket

import pytest
from pynetdicom import AE

from apps.accounts.models import AuditEvent
from apps.dimse import hosts
from apps.dimse.models import RemoteAE
from tests.qr_peers import HOST, listener

pytestmark = pytest.mark.django_db(transaction=True)

VERIFICATION = "1.2.840.10008.1.1"


def echo_from(port: int, calling: str, source: str) -> tuple[bool, tuple | None]:
    """C-ECHO from `source` (a loopback address); (accepted, rejection reason)."""
    ae = AE(calling)
    ae.add_requested_context(VERIFICATION)
    assoc = ae.associate(HOST, port, ae_title="PACSWEB", bind_address=(source, 0))
    try:
        if assoc.is_established:
            status = assoc.send_c_echo()
            assoc.release()
            return int(status.Status) == 0, None
        reply = assoc.acceptor.primitive
        reason = (
            (reply.result, reply.result_source, reply.diagnostic)
            if assoc.is_rejected and reply is not None
            else None
        )
        return False, reason
    finally:
        ae.shutdown()


# PS3.8 9.3.4: rejected-permanent (1), service-user (1), calling AE title
# not recognized (3).
CALLING_AE_NOT_RECOGNIZED = (0x01, 0x01, 0x03)


def test_a_known_title_from_an_unexpected_address_is_rejected_and_logged(
    settings, caplog
):
    settings.PACSWEB_REQUIRE_KNOWN_AE = True
    RemoteAE.objects.create(ae_title="MODALITY", host="127.0.0.2", port=104)

    with (
        caplog.at_level(logging.WARNING, logger="apps.dimse.listener"),
        listener() as port,
    ):
        from_elsewhere = echo_from(port, "MODALITY", "127.0.0.1")
        from_its_host = echo_from(port, "MODALITY", "127.0.0.2")

    assert from_elsewhere == (False, CALLING_AE_NOT_RECOGNIZED)
    assert from_its_host == (True, None)
    [refusal] = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert "MODALITY at 127.0.0.1" in refusal
    assert "expected from 127.0.0.2" in refusal
    [event] = AuditEvent.objects.filter(action="access")
    assert (event.outcome, event.ae_title, event.address) == (
        "denied",
        "MODALITY",
        "127.0.0.1",
    )
    assert event.resource == "A-ASSOCIATE-RQ to PACSWEB"
    assert event.detail == (
        "association rejected: calling AE title known, but expected from 127.0.0.2"
    )


def test_localhost_as_host_admits_the_loopback_address(settings):
    settings.PACSWEB_REQUIRE_KNOWN_AE = True
    RemoteAE.objects.create(ae_title="LOCALNAME", host="localhost", port=104)

    with listener() as port:
        accepted, _ = echo_from(port, "LOCALNAME", "127.0.0.1")
        other_loopback, reason = echo_from(port, "LOCALNAME", "127.0.0.3")

    assert accepted
    assert not other_loopback
    assert reason == CALLING_AE_NOT_RECOGNIZED


def test_a_host_name_that_does_not_resolve_refuses_the_ae(settings, caplog):
    settings.PACSWEB_REQUIRE_KNOWN_AE = True
    RemoteAE.objects.create(ae_title="NOWHERE", host="no-such-host.invalid", port=104)

    with (
        caplog.at_level(logging.WARNING, logger="apps.dimse.listener"),
        listener() as port,
    ):
        accepted, reason = echo_from(port, "NOWHERE", "127.0.0.1")

    assert not accepted
    assert reason == CALLING_AE_NOT_RECOGNIZED
    assert any(
        "expected host of NOWHERE unknown" in r.getMessage() for r in caplog.records
    )


def test_without_known_aes_required_the_host_is_not_checked(settings):
    settings.PACSWEB_REQUIRE_KNOWN_AE = False
    RemoteAE.objects.create(ae_title="MODALITY", host="127.0.0.2", port=104)

    with listener() as port:
        accepted, _ = echo_from(port, "MODALITY", "127.0.0.1")

    assert accepted


@pytest.mark.parametrize(
    ("peer", "host", "same"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "localhost", True),
        ("::1", "127.0.0.1", True),
        ("::ffff:127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "::1", True),
        ("127.0.0.2", "127.0.0.2", True),
        ("127.0.0.1", "127.0.0.2", False),
        ("127.0.0.2", "localhost", False),
        ("10.1.2.3", "10.1.2.4", False),
        ("not an address", "127.0.0.1", False),
    ],
)
def test_address_comparison(peer, host, same):
    assert hosts.is_host(peer, host) is same


def test_a_name_is_resolved_once_per_check(monkeypatch):
    calls = []

    def fake_getaddrinfo(host, *args, **kwargs):
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)

    assert hosts.is_host("10.0.0.7", "ct-scanner.example")
    assert not hosts.is_host("10.0.0.8", "ct-scanner.example")
    assert calls == ["ct-scanner.example", "ct-scanner.example"]


def test_with_the_check_off_no_name_is_looked_up(settings, monkeypatch):
    settings.PACSWEB_REQUIRE_KNOWN_AE = False
    RemoteAE.objects.create(ae_title="NAMED", host="pacs.example", port=104)
    lookups = []
    monkeypatch.setattr(hosts, "addresses_of", lambda host: lookups.append(host))

    with listener() as port:
        accepted, _ = echo_from(port, "NAMED", "127.0.0.1")

    assert accepted
    assert lookups == []
