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


def split_response(
    content: bytes, content_type: str
) -> list[tuple[dict[str, str], bytes]]:
    """Parts of a multipart response, by plain splitting (independent of the parser)."""
    params = dict(
        item.strip().split("=", 1)
        for item in content_type.split(";")[1:]
        if "=" in item
    )
    boundary = params["boundary"].strip('"').encode()
    sections = (b"\r\n" + content).split(b"\r\n--" + boundary)
    if not sections[-1].startswith(b"--"):
        raise AssertionError("no closing boundary")
    parts = []
    for section in sections[1:-1]:
        head, _, data = section[2:].partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append((headers, data))
    return parts
