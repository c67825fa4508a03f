"""The one client both servers are measured with: DICOMweb over HTTP and
C-STORE with dcmtk's storescu.

Every call checks what came back; an answer that is an error, or holds the
wrong number of things, raises NotMeasurable with a reason that ends up in
docs/performance.md instead of a figure.
"""

import os
import re
import subprocess
import threading
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote

import requests

DICOM_JSON = "application/dicom+json"
MULTIPART_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
MULTIPART_FRAMES = (
    'multipart/related; type="application/octet-stream"; transfer-syntax=*'
)
HTTP_TIMEOUT = 300
SCU_AE_TITLE = "BENCHSCU"
QUERY_SAFE = "*?^,-.:"
UID_IN_PATH = re.compile(r"(?<=/)[0-9]+(\.[0-9]+)+")
NODELAY_ENV = {**os.environ, "TCP_NODELAY": "1"}

# Tags (PS3.18 10.5.3 Store Instances Response)
REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"


class NotMeasurable(Exception):
    """The server could not do what was measured, or answered wrongly."""


@dataclass(frozen=True)
class Target:
    name: str
    dicomweb: str  # base URL, no trailing slash
    dicom_host: str
    dicom_port: int | None  # None: no DICOM listener to measure
    ae_title: str
    dicom_unavailable: str = ""  # why there is no listener
    authorization: str = ""  # an Authorization header value, if it needs one

    def headers(self, **extra: str) -> dict[str, str]:
        base = {"Authorization": self.authorization} if self.authorization else {}
        return {**base, **{k.replace("_", "-"): v for k, v in extra.items()}}


_local = threading.local()


def session() -> requests.Session:
    # One keep-alive connection pool per client thread.
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


def get(
    target: Target, path: str, accept: str, params: dict | None = None
) -> requests.Response:
    response = session().get(
        target.dicomweb + path,
        params=params,
        headers=target.headers(Accept=accept),
        timeout=HTTP_TIMEOUT,
    )
    if response.status_code != 200:
        raise NotMeasurable(_http_reason("GET " + path, response))
    return response


def query_string(params: dict) -> str:
    # Wildcards, the PN component separator, ranges and lists go as they
    # are (RFC 3986 allows them in a query), non-ASCII as percent-encoded
    # UTF-8. Orthanc matches `%2A` literally, so `urlencode` would make it
    # fail every wildcard search.
    return "&".join(
        f"{quote(str(k), safe='')}={quote(str(v), safe=QUERY_SAFE)}"
        for k, v in params.items()
    )


def qido(target: Target, path: str, params: dict) -> list[dict]:
    response = session().get(
        f"{target.dicomweb}{path}?{query_string(params)}",
        headers=target.headers(Accept=DICOM_JSON),
        timeout=HTTP_TIMEOUT,
    )
    # PS3.18 10.6.3: an empty result may come as 204 No Content.
    if response.status_code == 204:
        return []
    if response.status_code != 200:
        raise NotMeasurable(_http_reason("QIDO-RS " + path, response))
    return response.json()


def first_value(item: dict, tag: str) -> object:
    values = item.get(tag, {}).get("Value") or [None]
    return values[0]


def multipart_body(parts: list[bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    chunks = []
    for part in parts:
        chunks.append(
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode("ascii")
        )
        chunks.append(part)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    return b"".join(chunks), content_type


def stow(target: Target, body: bytes, content_type: str, expected: int) -> None:
    response = session().post(
        target.dicomweb + "/studies",
        data=body,
        headers=target.headers(Content_Type=content_type, Accept=DICOM_JSON),
        timeout=HTTP_TIMEOUT,
    )
    if response.status_code != 200:
        raise NotMeasurable(_http_reason("STOW-RS", response))
    payload = response.json()
    stored = len(payload.get(REFERENCED_SOP_SEQUENCE, {}).get("Value", []))
    failed = len(payload.get(FAILED_SOP_SEQUENCE, {}).get("Value", []))
    if stored != expected or failed:
        raise NotMeasurable(
            f"STOW-RS stored {stored} of {expected} instances ({failed} failed)"
        )


def parse_multipart(response: requests.Response) -> list[bytes]:
    match = re.search(
        r'boundary="?([^";]+)"?', response.headers.get("Content-Type", "")
    )
    if not match:
        raise NotMeasurable(
            f"no multipart boundary in Content-Type {response.headers.get('Content-Type')!r}"
        )
    delimiter = b"--" + match.group(1).encode("ascii")
    parts = []
    for chunk in response.content.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, payload = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise NotMeasurable("a multipart part has no header block")
        parts.append(payload[:-2] if payload.endswith(b"\r\n") else payload)
    return parts


def storescu_config(folder: Path, contexts: set[tuple[str, str]]) -> Path:
    """A storescu profile with one presentation context per (SOP class,
    transfer syntax) of the dataset, so every file goes as stored: storescu
    would otherwise offer uncompressed syntaxes and try to decode."""
    syntaxes = sorted({ts for _, ts in contexts})
    lines = ["[[TransferSyntaxes]]"]
    for n, ts in enumerate(syntaxes):
        lines += [f"[TS{n}]", f"TransferSyntax1 = {ts}"]
    lines += ["[[PresentationContexts]]", "[Bench]"]
    for n, (sop_class, ts) in enumerate(sorted(contexts), start=1):
        lines.append(f"PresentationContext{n} = {sop_class}\\TS{syntaxes.index(ts)}")
    lines += ["[[Profiles]]", "[Bench]", "PresentationContexts = Bench"]
    path = folder / "storescu.cfg"
    path.write_text("\n".join(lines) + "\n")
    return path


def storescu(target: Target, config: Path, files: list[Path]) -> None:
    """One association stores `files`; every C-STORE must answer Success."""
    if target.dicom_port is None:
        raise NotMeasurable(target.dicom_unavailable or "no DICOM listener")
    argv = [
        "storescu", "-v", "-nh", "-xf", str(config), "Bench",
        "-aet", SCU_AE_TITLE, "-aec", target.ae_title,
        target.dicom_host, str(target.dicom_port),
        *map(str, files),
    ]  # fmt: skip
    # TCP_NODELAY=1 is dcmtk's switch to disable Nagle's algorithm: without
    # it every C-STORE waits for a delayed ACK (about 40 ms on Linux).
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=HTTP_TIMEOUT, env=NODELAY_ENV
    )
    output = result.stdout + result.stderr
    succeeded = output.count("Received Store Response (Success)")
    if result.returncode != 0 or succeeded != len(files):
        errors = [line for line in output.splitlines() if line.startswith(("E:", "F:"))]
        raise NotMeasurable(
            f"storescu stored {succeeded} of {len(files)} (exit {result.returncode}): "
            + (
                " ".join(errors[:3]) or output.strip().splitlines()[-1:][0]
                if output.strip()
                else "no output"
            )
        )


def _http_reason(what: str, response: requests.Response) -> str:
    # UIDs make every reason unique; the report groups equal reasons.
    what = UID_IN_PATH.sub("{uid}", what)
    detail = response.headers.get("Warning", "")
    html = response.headers.get("Content-Type", "").startswith("text/html")
    if response.status_code == HTTPStatus.NOT_FOUND and html:
        # A DICOMweb 404 names the missing UID; an HTML page means the URL
        # itself is unknown, i.e. the service is not there.
        return f"{what} answered HTTP 404 from the URL router: the server has no such resource"
    if not detail:
        title = re.search(r"<title>(.*?)</title>", response.text, re.S | re.I)
        detail = title.group(1) if title else response.text[:160]
    detail = " ".join(detail.split())
    return f"{what} answered HTTP {response.status_code}: {detail}"
