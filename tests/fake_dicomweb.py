"""A DICOMweb double at the browser's network edge, for the viewer alone.

The viewer bundle's contract with the server is HTTP: QIDO-RS series,
WADO-RS series metadata and frames, and the upload page's is STOW-RS with
one file per request. This answers those few requests inside
Playwright (page.route) from the archive rows and stored files, so the
viewer's own behaviour is tested whatever state the server side is in, and
records what the viewer asked for so tests can assert on the requests.
The real endpoints are exercised by tests/test_viewer_browser.py.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.encaps import generate_fragmented_frames

from apps.archive import dicomjson, storage
from apps.archive.ingest import IngestError, ingest_file
from apps.archive.models import Instance, Series

_SERIES = re.compile(r"studies/([^/]+)/series$")
_METADATA = re.compile(r"studies/([^/]+)/series/([^/]+)/metadata$")
_FRAME = re.compile(r"studies/[^/]+/series/[^/]+/instances/([^/]+)/frames/(\d+)$")
BOUNDARY = "frame-boundary"


@dataclass
class FakeDicomWeb:
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Accept)

    # Where uploaded parts are spooled before ingest.
    spool_dir: Path | None = None

    def install(self, page) -> None:
        page.route(re.compile(r".*/dicomweb/.*"), self._answer)

    def _answer(self, route, request) -> None:
        base, _, rest = request.url.partition("/dicomweb/")
        path = rest.split("?")[0]
        self.requests.append((path, request.headers.get("accept", "")))

        if request.method == "POST" and path == "studies":
            status, payload = self._store(request)
            route.fulfill(
                status=status,
                content_type="application/dicom+json",
                body=json.dumps(payload),
            )
        elif match := _SERIES.match(path):
            route.fulfill(
                status=200,
                content_type="application/dicom+json",
                body=self._series(match[1]),
            )
        elif match := _METADATA.match(path):
            route.fulfill(
                status=200,
                content_type="application/dicom+json",
                body=self._metadata(match[2], base + "/dicomweb/"),
            )
        elif match := _FRAME.match(path):
            content_type, data = self._frame(match[1], int(match[2]))
            body = (
                f"--{BOUNDARY}\r\nContent-Type: {content_type}\r\n\r\n".encode()
                + data
                + f"\r\n--{BOUNDARY}--\r\n".encode()
            )
            headers = {
                "Content-Type": f'multipart/related; type="application/octet-stream"; boundary={BOUNDARY}'
            }
            route.fulfill(status=200, headers=headers, body=body)
        else:
            # Anything else (bulk data, thumbnails) goes on to the live server.
            route.fallback()

    def _store(self, request) -> tuple[int, dict]:
        """One part per request, as the upload page sends; PS3.18 10.5.3."""
        boundary = request.headers["content-type"].split("boundary=")[1].encode()
        part = request.post_data_buffer.split(b"--" + boundary)[1]
        body = part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
        assert self.spool_dir is not None
        spooled = self.spool_dir / f"part-{len(self.requests)}.dcm"
        spooled.write_bytes(body)
        try:
            result = ingest_file(spooled)
        except IngestError as exc:
            failed = {"00081197": {"vr": "US", "Value": [int(exc.status)]}}
            return 409, {"00081198": {"vr": "SQ", "Value": [failed]}}
        stored = {"00081155": {"vr": "UI", "Value": [result.identity.sop_uid]}}
        return 200, {"00081199": {"vr": "SQ", "Value": [stored]}}

    def _series(self, study_uid: str) -> str:
        found = []
        for series in Series.objects.filter(study__study_instance_uid=study_uid):
            attributes = json.loads(series.attributes_json)
            attributes["00201209"] = {"vr": "IS", "Value": [series.number_of_instances]}
            found.append(attributes)
        return json.dumps(found)

    def _metadata(self, series_uid: str, base: str) -> str:
        instances = Instance.objects.filter(series__series_instance_uid=series_uid)
        texts = [
            i.metadata_json.replace(dicomjson.BULK_MARKER_JSON, '"' + base)
            for i in instances
        ]
        return "[" + ",".join(texts) + "]"

    def _frame(self, sop_uid: str, number: int) -> tuple[str, bytes]:
        instance = Instance.objects.get(sop_instance_uid=sop_uid)
        ds = pydicom.dcmread(storage.absolute(instance.storage_path))
        syntax = ds.file_meta.TransferSyntaxUID
        frames = max(1, instance.number_of_frames)
        if syntax.is_encapsulated:
            fragments = list(
                generate_fragmented_frames(ds.PixelData, number_of_frames=frames)
            )[number - 1]
            # The tests use JPEG baseline samples; the loader reads the
            # transfer-syntax parameter, not the media type, to pick a codec.
            return f"image/jpeg; transfer-syntax={syntax}", b"".join(fragments)
        size = len(ds.PixelData) // frames
        return f"application/octet-stream; transfer-syntax={syntax}", ds.PixelData[
            (number - 1) * size : number * size
        ]
