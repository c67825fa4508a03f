import io
import tracemalloc
from pathlib import Path

import pytest

from apps.dicomweb.multipart import (
    MultipartError,
    iter_parts,
    new_boundary,
    write_parts,
)


@pytest.fixture
def sink(tmp_path: Path):
    folder = tmp_path / "parts"
    folder.mkdir()
    counter = iter(range(10**6))

    def new_sink():
        path = folder / f"{next(counter)}.part"
        return open(path, "w+b"), path

    new_sink.folder = folder
    return new_sink


def _parse(data: bytes, boundary: str, sink, chunk_size: int = 1024 * 1024):
    stream = io.BytesIO(data)
    parts = list(iter_parts(stream.read, boundary, sink, chunk_size))
    return [(p.headers, p.path.read_bytes(), p.size) for p in parts]


BODY = (
    b"this is a preamble, ignored\r\n"
    b"--b0und\r\nContent-Type: application/dicom\r\nX-Other:  two words \r\n\r\n"
    b"first\r\nbody with --b0un and CRLF\r\n"
    b"\r\n--b0und  \r\n\r\n"
    b"second"
    b"\r\n--b0und--\r\nthis epilogue is ignored too"
)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 9, 64, 1024 * 1024])
def test_it_splits_parts_across_any_chunk_edge(sink, chunk_size: int):
    parts = _parse(BODY, "b0und", sink, chunk_size)

    assert parts == [
        (
            {"content-type": "application/dicom", "x-other": "two words"},
            b"first\r\nbody with --b0un and CRLF\r\n",
            34,
        ),
        ({}, b"second", 6),
    ]


def test_it_reads_a_first_boundary_without_preamble_and_an_empty_part(sink):
    data = b"--x\r\nContent-Type: application/dicom\r\n\r\n\r\n--x\r\n\r\nabc\r\n--x--"

    parts = _parse(data, "x", sink)

    assert [(body, size) for _, body, size in parts] == [(b"", 0), (b"abc", 3)]


def test_it_refuses_a_body_without_the_given_boundary(sink):
    data = b"--other\r\n\r\nabc\r\n--other--\r\n"

    with pytest.raises(MultipartError, match="no part delimited by the boundary"):
        _parse(data, "b0und", sink)

    assert list(sink.folder.iterdir()) == []


def test_it_refuses_a_boundary_that_is_only_a_prefix_of_the_real_one(sink):
    data = b"--abcdef\r\n\r\nabc\r\n--abcdef--\r\n"

    with pytest.raises(MultipartError, match="trailing characters"):
        _parse(data, "abc", sink)


@pytest.mark.parametrize(
    "data",
    [
        b"--b\r\n\r\nabc",  # ends inside the body
        b"--b\r\n\r\nabc\r\n--b",  # ends after a delimiter
        b"--b\r\nContent-Type: app",  # ends inside the headers
    ],
)
def test_it_refuses_a_body_without_closing_boundary_and_removes_the_partial_part(
    sink, data
):
    yielded = []

    with pytest.raises(MultipartError, match="ends"):
        for part in iter_parts(io.BytesIO(data).read, "b", sink):
            yielded.append(part.path)

    # Parts already yielded belong to the caller; nothing else is left.
    assert sorted(sink.folder.iterdir()) == yielded


def test_it_refuses_a_malformed_part_header(sink):
    with pytest.raises(MultipartError, match="malformed part header"):
        _parse(b"--b\r\nno colon here\r\n\r\nabc\r\n--b--", "b", sink)


def test_written_parts_parse_back_to_the_same_bytes(sink):
    boundary = new_boundary()
    parts = [
        ({"Content-Type": "application/dicom"}, [b"\x00\x01", b"\r\n--", b"tail"]),
        ({"Content-Type": "application/octet-stream"}, []),
    ]

    data = b"".join(write_parts(parts, boundary))
    parsed = _parse(data, boundary, sink, chunk_size=5)

    assert [(h["content-type"], body) for h, body, _ in parsed] == [
        ("application/dicom", b"\x00\x01\r\n--tail"),
        ("application/octet-stream", b""),
    ]


def test_memory_stays_near_one_chunk_for_a_large_body(sink):
    size = 64 * 1024 * 1024
    block = bytes(range(256)) * 4096  # 1 MiB

    def generated():
        yield b"--big\r\nContent-Type: application/dicom\r\n\r\n"
        for _ in range(size // len(block)):
            yield block
        yield b"\r\n--big--\r\n"

    source = generated()
    pending = b""

    def read(n: int) -> bytes:
        nonlocal pending
        while len(pending) < n:
            chunk = next(source, b"")
            if not chunk:
                break
            pending += chunk
        out, pending = pending[:n], pending[n:]
        return out

    tracemalloc.start()
    parts = list(iter_parts(read, "big", sink))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert parts[0].size == size
    assert parts[0].path.stat().st_size == size
    assert peak < 8 * 1024 * 1024
