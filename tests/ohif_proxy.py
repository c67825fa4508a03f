"""OHIF and pacsweb on one origin, as a hospital's reverse proxy serves them.

OHIF's prebuilt app (tests/ohif/node_modules/@ohif/app/dist, installed by
`make ohif`) is served at / with tests/ohif/app-config.js as its
configuration; /dicomweb/, /accounts/ and /static/ go to pacsweb. The Host
header is passed unchanged, so pacsweb's redirects, its CSRF origin check
and the absolute BulkDataURIs in its metadata all name this origin, and the
session cookie pacsweb sets is sent with OHIF's DICOMweb requests.

Every answer is recorded (source, method, path, status) for the tests.
To try OHIF by hand against `make run`:

    .venv/bin/python -m tests.ohif_proxy --pacsweb http://127.0.0.1:8000 --port 3000
"""

import argparse
import http.client
import mimetypes
import shutil
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

OHIF_DIR = Path(__file__).resolve().parent / "ohif"
OHIF_DIST = OHIF_DIR / "node_modules" / "@ohif" / "app" / "dist"
APP_CONFIG = OHIF_DIR / "app-config.js"
PACSWEB_PREFIXES = ("/dicomweb/", "/accounts/", "/static/")
CHUNK = 64 * 1024
UPSTREAM_TIMEOUT = 120
# RFC 9110 7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".css": "text/css",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
}


@dataclass(frozen=True)
class Exchange:
    source: str  # "pacsweb" or "ohif" (a file of the app)
    method: str
    path: str
    status: int


class OneOrigin(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], pacsweb_url: str) -> None:
        super().__init__(address, Handler)
        upstream = urllib.parse.urlsplit(pacsweb_url)
        self.upstream = (upstream.hostname or "127.0.0.1", upstream.port or 80)
        self.exchanges: list[Exchange] = []
        self.lock = threading.Lock()
        # JavaScript appended to app-config.js: a test's variation of it.
        self.config_suffix = ""

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def record(self, exchange: Exchange) -> None:
        with self.lock:
            self.exchanges.append(exchange)

    def take_exchanges(self) -> list[Exchange]:
        """What was answered since the last call."""
        with self.lock:
            taken, self.exchanges = self.exchanges, []
        return taken


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: OneOrigin

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the test reads the recorded exchanges instead."""

    def _dispatch(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith(PACSWEB_PREFIXES):
            self._forward()
        elif self.command in ("GET", "HEAD"):
            self._serve_file(path)
        else:
            self._answer_empty(405)

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() not in HOP_BY_HOP
        }
        headers["X-Forwarded-For"] = self.client_address[0]

        upstream = http.client.HTTPConnection(
            *self.server.upstream, timeout=UPSTREAM_TIMEOUT
        )
        try:
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
            except OSError:
                self.server.record(Exchange("pacsweb", self.command, self.path, 502))
                self._answer_empty(502)
                return
            self.server.record(
                Exchange("pacsweb", self.command, self.path, response.status)
            )
            self._relay(response)
        finally:
            upstream.close()

    def _relay(self, response: http.client.HTTPResponse) -> None:
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        # A body of unknown length (pacsweb streams some) ends with the
        # connection, as HTTP/1.1 allows.
        if response.getheader("Content-Length") is None:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            shutil.copyfileobj(response, self.wfile, CHUNK)

    def _serve_file(self, path: str) -> None:
        file = self._file_for(path)
        self.server.record(
            Exchange("ohif", self.command, self.path, 404 if file is None else 200)
        )
        if file is None:
            self._answer_empty(404)
            return

        data = file.read_bytes()
        if file == APP_CONFIG:
            data += self.server.config_suffix.encode()
        self.send_response(200)
        self.send_header("Content-Type", _content_type(file))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _file_for(self, path: str) -> Path | None:
        if path == "/app-config.js":
            return APP_CONFIG
        relative = urllib.parse.unquote(path).lstrip("/")
        candidate = (OHIF_DIST / relative).resolve()
        if not candidate.is_relative_to(OHIF_DIST.resolve()):
            return None
        if candidate.is_file():
            return candidate
        # OHIF routes (/, /viewer, ...) are the single-page app; a missing
        # asset (a name with an extension) is a plain 404.
        if "." not in relative.rsplit("/", 1)[-1]:
            return OHIF_DIST / "index.html"
        return None

    def _answer_empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _content_type(file: Path) -> str:
    known = CONTENT_TYPES.get(file.suffix)
    if known:
        return known
    guessed, _ = mimetypes.guess_type(file.name)
    return guessed or "application/octet-stream"


def start(pacsweb_url: str, port: int = 0) -> tuple[OneOrigin, threading.Thread]:
    """Serve on 127.0.0.1 in a background thread; stop with .shutdown()."""
    server = OneOrigin(("127.0.0.1", port), pacsweb_url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pacsweb", default="http://127.0.0.1:8000")
    parser.add_argument("--port", type=int, default=3000)
    options = parser.parse_args()
    if not (OHIF_DIST / "index.html").exists():
        raise SystemExit(f"{OHIF_DIST} is missing: run `make ohif`")

    server = OneOrigin(("127.0.0.1", options.port), options.pacsweb)
    sign_in = f"{server.url}/accounts/login/?next=/"
    print(f"OHIF on {server.url}/; sign in at {sign_in}")  # noqa: T201
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
