"""Audit messages over TLS syslog (RFC 5425) to a repository the test runs.

The repository is a mutual-TLS server on loopback that reads octet-counted
frames; it checks our client certificate against the test CA, as an ATNA
audit repository does.
"""

import os
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from apps.accounts import audit, syslog
from tests import tls_certs
from tests.security_samples import CT_STUDY

pytestmark = pytest.mark.django_db


class Repository:
    """Accepts TLS connections and keeps each RFC 5425 frame's message."""

    def __init__(self, certs: tls_certs.Certificates, port: int = 0) -> None:
        self.context = ssl.create_default_context(
            ssl.Purpose.CLIENT_AUTH, cafile=str(certs.ca)
        )
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.load_cert_chain(str(certs.server.cert), str(certs.server.key))
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = self.listener.getsockname()[1]
        self.messages: list[bytes] = []
        self.peers: list[str] = []
        self.arrived = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(raw,), daemon=True).start()

    def _read(self, raw: socket.socket) -> None:
        try:
            connection = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        subject = dict(x[0] for x in connection.getpeercert()["subject"])
        stream = connection.makefile("rb")
        while True:
            length = b""
            while (ch := stream.read(1)) not in (b" ", b""):
                length += ch
            if not length:
                break
            message = stream.read(int(length))
            with self.arrived:
                self.messages.append(message)
                self.peers.append(subject["commonName"])
                self.arrived.notify_all()
        connection.close()

    def wait_for(self, count: int, timeout: float = 10) -> list[bytes]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> tls_certs.Certificates:
    return tls_certs.make(tmp_path_factory.mktemp("syslog-certs"))


@pytest.fixture
def repository(certs) -> Iterator[Repository]:
    repo = Repository(certs)
    yield repo
    repo.close()


@pytest.fixture
def tls_syslog(settings, certs):
    settings.PACSWEB_AUDIT_SYSLOG_CA = str(certs.ca)
    settings.PACSWEB_AUDIT_SYSLOG_CERT = str(certs.client.cert)
    settings.PACSWEB_AUDIT_SYSLOG_KEY = str(certs.client.key)
    syslog._tls_sender.cache_clear()
    yield settings
    syslog._tls_sender.cache_clear()


def _xml(message: bytes) -> ET.Element:
    return ET.fromstring(message.split("\ufeff".encode(), 1)[1])


def test_events_reach_the_repository_over_mutual_tls_in_order(tls_syslog, repository):
    tls_syslog.PACSWEB_AUDIT_SYSLOG = f"tls://127.0.0.1:{repository.port}"

    first = audit.record(audit.RETRIEVE, username="clara", study_uids=[CT_STUDY])
    second = audit.record(audit.SIGN_OUT, username="clara")
    messages = repository.wait_for(2)

    assert messages == [syslog.format_message(first), syslog.format_message(second)]
    assert repository.peers == ["client", "client"]
    codes = [
        _xml(m).find("EventIdentification/EventID").get("csd-code") for m in messages
    ]
    assert codes == ["110103", "110114"]


def test_events_queued_while_the_repository_is_away_arrive_when_it_returns(
    tls_syslog, certs
):
    # Find a free port, leave it closed: the repository is down.
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    tls_syslog.PACSWEB_AUDIT_SYSLOG = f"tls://127.0.0.1:{port}"
    sender = syslog._tls_sender(
        syslog.parse_target(f"tls://127.0.0.1:{port}"), os.getpid()
    )
    sender.retry_seconds = 0.05

    started = time.monotonic()
    events = [audit.record(audit.QUERY, username=f"user{n}") for n in range(3)]
    # Recording did not wait for the absent repository.
    assert time.monotonic() - started < 5
    repository = Repository(certs, port=port)
    try:
        messages = repository.wait_for(3)
    finally:
        repository.close()

    assert messages == [syslog.format_message(e) for e in events]


def test_a_repository_our_ca_did_not_sign_gets_nothing(tls_syslog, certs, tmp_path):
    (tmp_path / "other").mkdir()
    other = tls_certs.make(tmp_path / "other")
    stranger = Repository(other)
    # The stranger trusts our client CA, so only our check can refuse it.
    stranger.context.load_verify_locations(str(certs.ca))
    tls_syslog.PACSWEB_AUDIT_SYSLOG = f"tls://127.0.0.1:{stranger.port}"
    try:
        audit.record(audit.RETRIEVE, username="clara", study_uids=[CT_STUDY])
        assert stranger.wait_for(1, timeout=2) == []
    finally:
        stranger.close()


@pytest.mark.parametrize(
    "target", ["tcp://127.0.0.1:514", "udp://127.0.0.1", "tls://:6514", "udp://h:99999"]
)
def test_a_malformed_syslog_target_stops_the_start(settings, target):
    settings.PACSWEB_AUDIT_SYSLOG = target

    with pytest.raises(SystemCheckError, match="pacsweb.E004"):
        call_command("check")


def test_an_unreadable_syslog_certificate_stops_the_start(settings, tmp_path):
    settings.PACSWEB_AUDIT_SYSLOG = "tls://127.0.0.1:6514"
    settings.PACSWEB_AUDIT_SYSLOG_CERT = str(tmp_path / "missing.pem")

    with pytest.raises(SystemCheckError, match="pacsweb.E004"):
        call_command("check")
