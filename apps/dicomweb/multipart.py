"""Streaming multipart/related (RFC 2387 over RFC 2046 5.1) without a framework.

The parser reads a byte stream a chunk at a time and writes each part's body
straight into a sink file, so memory stays at about one chunk whatever the
size of the request. The writer does the reverse for streamed responses.

Delimiters are found by searching for CRLF "--" boundary. The start of the
body counts as if a CRLF preceded it, so a first boundary without preamble
is found by the same search as every later one.
"""

import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CRLF = b"\r\n"
CHUNK_SIZE = 1024 * 1024
# Part headers are a few short lines; anything longer is not a part header.
MAX_HEADER_BYTES = 16 * 1024
# RFC 2046 5.1.1: 1 to 70 characters.
MAX_BOUNDARY_LENGTH = 70

Reader = Callable[[int], bytes]
SinkFactory = Callable[[], tuple[BinaryIO, Path]]
Headers = dict[str, str]


class MultipartError(Exception):
    """The body is not a well-formed multipart body for the given boundary."""


@dataclass(frozen=True)
class Part:
    # Header names lower-cased; values as sent, stripped.
    headers: Headers
    path: Path
    size: int

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def iter_parts(
    read: Reader, boundary: str, new_sink: SinkFactory, chunk_size: int = CHUNK_SIZE
) -> Iterator[Part]:
    """Yield each part once its body is complete in its sink file.

    The caller owns the files of the parts yielded; the file of a part that
    is cut short by an error is removed here. Raises MultipartError for a
    body that does not match `boundary` or ends before the close delimiter.
    """
    if not 0 < len(boundary) <= MAX_BOUNDARY_LENGTH:
        raise MultipartError("the boundary must have 1 to 70 characters")
    parser = _Parser(read, CRLF + b"--" + boundary.encode("latin-1"), chunk_size)
    yield from parser.parts(new_sink)


class _Parser:
    def __init__(self, read: Reader, delimiter: bytes, chunk_size: int) -> None:
        self._read = read
        self._delimiter = delimiter
        self._chunk_size = chunk_size
        self._buffer = bytearray(CRLF)
        self._eof = False

    def parts(self, new_sink: SinkFactory) -> Iterator[Part]:
        self._skip_preamble()
        while not self._after_delimiter_is_close():
            headers = self._headers()
            handle, path = new_sink()
            try:
                with handle:
                    size = self._copy_body(handle)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            yield Part(headers, path, size)
        # The epilogue is ignored (RFC 2046 5.1.1); it is not read either.

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._read(self._chunk_size)
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    def _skip_preamble(self) -> None:
        keep = len(self._delimiter) - 1
        while True:
            index = self._buffer.find(self._delimiter)
            if index >= 0:
                del self._buffer[: index + len(self._delimiter)]
                return
            if len(self._buffer) > keep:
                del self._buffer[: len(self._buffer) - keep]
            if not self._fill():
                raise MultipartError(
                    "the body contains no part delimited by the boundary "
                    "given in Content-Type"
                )

    def _after_delimiter_is_close(self) -> bool:
        # After a delimiter: "--" closes the body; otherwise optional
        # linear white space, then CRLF starts the next part.
        while len(self._buffer) < 2 and self._fill():
            pass
        if self._buffer[:2] == b"--":
            return True
        while True:
            stripped = self._buffer.lstrip(b" \t")
            if len(stripped) >= 2 or not self._fill():
                break
        if stripped[:2] != CRLF:
            if not stripped and self._eof:
                raise MultipartError("the body ends without a closing boundary")
            raise MultipartError(
                "a boundary line has trailing characters (wrong boundary?)"
            )
        del self._buffer[: len(self._buffer) - len(stripped) + 2]
        return False

    def _headers(self) -> Headers:
        while True:
            if self._buffer[:2] == CRLF:
                del self._buffer[:2]
                return {}
            end = self._buffer.find(CRLF + CRLF)
            if end >= 0:
                break
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise MultipartError("part headers are longer than 16 KiB")
            if not self._fill():
                raise MultipartError("the body ends inside part headers")
        block = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[: end + 4]
        return _parse_headers(block)

    def _copy_body(self, sink: BinaryIO) -> int:
        keep = len(self._delimiter) - 1
        size = 0
        while True:
            index = self._buffer.find(self._delimiter)
            if index >= 0:
                sink.write(self._buffer[:index])
                del self._buffer[: index + len(self._delimiter)]
                return size + index
            # Everything but a possible start of the delimiter is body.
            if len(self._buffer) > keep:
                cut = len(self._buffer) - keep
                sink.write(self._buffer[:cut])
                del self._buffer[:cut]
                size += cut
            if not self._fill():
                raise MultipartError(
                    "the body ends inside a part (no closing boundary)"
                )


def _parse_headers(block: str) -> Headers:
    headers: Headers = {}
    for line in block.split("\r\n"):
        if line[:1] in (" ", "\t") and headers:
            # Obsolete line folding (RFC 5322 2.2.3): continues the last one.
            last = next(reversed(headers))
            headers[last] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise MultipartError(f"malformed part header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


def new_boundary() -> str:
    return "pacsweb-" + secrets.token_hex(16)


def write_parts(
    parts: Iterable[tuple[Headers, Iterable[bytes]]], boundary: str
) -> Iterator[bytes]:
    """Yield a multipart body, part by part, as the bodies are iterated."""
    dash_boundary = b"--" + boundary.encode("latin-1")
    for headers, body in parts:
        lines = [dash_boundary]
        lines += [
            f"{name}: {value}".encode("latin-1") for name, value in headers.items()
        ]
        yield CRLF.join(lines) + CRLF + CRLF
        yield from body
        yield CRLF
    yield dash_boundary + b"--" + CRLF
