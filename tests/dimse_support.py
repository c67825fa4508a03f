"""Real DICOM peers for tests: dcmtk's tools, and the bytes to compare."""

import re
import subprocess
from pathlib import Path

import pydicom
from pydicom.filereader import _read_file_meta_info, read_preamble

AE_TITLE = "PACSWEB"
TIMEOUT = 60


def echoscu(port: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["echoscu", "-aec", AE_TITLE, *args, "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def storescu(
    port: int, files: list[Path], workdir: Path, *args: str
) -> subprocess.CompletedProcess:
    """Send files as they are: one presentation context per SOP class and
    transfer syntax found in them, so storescu never converts anything."""
    config = workdir / "storescu.cfg"
    config.write_text(_profile(files))
    return subprocess.run(
        [
            "storescu",
            "-v",
            "-xf",
            str(config),
            "Files",
            "-aec",
            AE_TITLE,
            "-nh",
            *args,
            "127.0.0.1",
            str(port),
        ]
        + [str(f) for f in files],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def responses(result: subprocess.CompletedProcess) -> list[str]:
    """The C-STORE statuses storescu reports, in order ("Success", ...)."""
    return re.findall(r"Received Store Response \((.*)\)", result.stderr)


def _profile(files: list[Path]) -> str:
    pairs = []
    for path in files:
        meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
        pair = (str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID))
        if pair not in pairs:
            pairs.append(pair)
    syntaxes = sorted({ts for _, ts in pairs})
    lines = ["[[TransferSyntaxes]]"]
    for n, ts in enumerate(syntaxes, 1):
        lines += [f"[TS{n}]", f"TransferSyntax1 = {ts}"]
    lines += ["[[PresentationContexts]]", "[Contexts]"]
    for n, (sop_class, ts) in enumerate(pairs, 1):
        lines.append(
            f"PresentationContext{n} = {sop_class}\\TS{syntaxes.index(ts) + 1}"
        )
    lines += ["[[Profiles]]", "[Files]", "PresentationContexts = Contexts"]
    return "\n".join(lines) + "\n"


def dataset_bytes(path: Path) -> bytes:
    """A PS3.10 file's bytes after its File Meta Information."""
    with open(path, "rb") as handle:
        read_preamble(handle, force=True)
        _read_file_meta_info(handle)
        return handle.read()


def meta_of(path: Path) -> pydicom.dataset.FileMetaDataset:
    return pydicom.filereader.read_file_meta_info(path)


def send_raw(
    port: int, files: list[Path], calling_ae: str = "RAWSCU"
) -> list[tuple[int, str]]:
    """C-STORE files with pynetdicom, data set bytes straight from the file.

    dcmtk's storescu decodes and re-encodes each data set before sending
    (sequence and group lengths, trailing padding), so only a peer that
    streams the file's own bytes can show the archive keeps them as sent.
    Returns (status, error comment) per file.
    """
    from pynetdicom import AE, _config
    from pynetdicom.presentation import build_context

    pairs: list[tuple[str, str]] = []
    for path in files:
        meta = meta_of(path)
        pair = (str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID))
        if pair not in pairs:
            pairs.append(pair)
    ae = AE(calling_ae)
    contexts = [build_context(sop_class, ts) for sop_class, ts in pairs]
    previous = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        assoc = ae.associate("127.0.0.1", port, contexts=contexts, ae_title=AE_TITLE)
        if not assoc.is_established:
            raise RuntimeError("association with the listener failed")
        answers = []
        for path in files:
            status = assoc.send_c_store(path)
            answers.append((int(status.Status), str(status.get("ErrorComment", ""))))
        assoc.release()
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = previous
        ae.shutdown()
    return answers
