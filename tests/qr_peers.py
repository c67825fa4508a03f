"""Real DICOM peers for tests: our listener, dcmtk tools and servers,
each on a free loopback port and always shut down."""

import logging
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, process: subprocess.Popen | None = None, timeout: float = 10
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


@contextmanager
def listener() -> Iterator[int]:
    """The DICOM listener with every service, on a free loopback port.

    The calling test needs the committed (transactional) database: handlers
    run in the listener's threads, with their own connections."""
    from apps.dimse.listener import Listener

    server = Listener(host=HOST, port=0, ae_title="PACSWEB")
    _, port = server.start()
    try:
        yield port
    finally:
        server.stop(grace_seconds=5)


@contextmanager
def process(
    args: list[str], port: int, cwd: Path | None = None
) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(
        args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(port, proc)
        yield proc
    finally:
        if proc.poll() is not None:
            # Died under the test: say why in the test's log.
            output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            logging.getLogger(__name__).error("%s exited early: %s", args[0], output)
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


@contextmanager
def dcmqrscp(workdir: Path, files: list[Path], peers: dict[str, int]) -> Iterator[int]:
    """dcmtk's Q/R archive holding `files`, knowing `peers` (AE: port)."""
    db = workdir / "qrdb"
    db.mkdir(parents=True)
    port = free_port()
    hosts = "\n".join(
        f"p{i} = ({ae}, {HOST}, {peer_port})"
        for i, (ae, peer_port) in enumerate(peers.items())
    )
    config = workdir / "dcmqrscp.cfg"
    config.write_text(
        f"NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n"
        f"HostTable BEGIN\n{hosts}\nHostTable END\n"
        "VendorTable BEGIN\nVendorTable END\n"
        f"AETable BEGIN\nDCMQRSCP {db} RW (200, 1024mb) ANY\nAETable END\n"
    )
    if files:
        indexed = run(["dcmqridx", str(db), *map(str, files)])
        if indexed.returncode != 0:
            raise RuntimeError(indexed.stderr)
    with process(["dcmqrscp", "-c", str(config), str(port)], port):
        yield port
