"""Building multipart/related request bodies for the DICOMweb tests."""

from pathlib import Path

BOUNDARY = "test-boundary-7d3f"
STOW_CONTENT_TYPE = (
    f'multipart/related; type="application/dicom"; boundary="{BOUNDARY}"'
)


def body(
    parts: list[bytes], boundary: str = BOUNDARY, part_type: str = "application/dicom"
) -> bytes:
    out = b""
    for data in parts:
        out += (
            f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode()


def files_body(paths: list[Path], boundary: str = BOUNDARY) -> bytes:
    return body([p.read_bytes() for p in paths], boundary)
