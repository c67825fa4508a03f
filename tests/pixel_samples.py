"""Helpers for the pixel tests: a sample as the row ingest would record."""

from pathlib import Path
from types import SimpleNamespace

import pydicom

from apps.archive.parse import read_header
from tests.conftest import TEST_FILES, sample

# MONOCHROME1 ships only inside pydicom's DICOMDIR test tree.
MONOCHROME1_SAMPLE = TEST_FILES / "dicomdirtests/77654033/CR1/6154"


def sample_path(name: str) -> Path:
    if name == "MONOCHROME1":
        return MONOCHROME1_SAMPLE
    return sample(name)


def pixel_source(path: Path) -> SimpleNamespace:
    """The Instance columns frames.py reads, taken from the file like ingest."""
    parsed = read_header(path)
    ds = parsed.dataset
    header = parsed.pixel_data
    return SimpleNamespace(
        transfer_syntax_uid=parsed.transfer_syntax_uid,
        number_of_frames=int(ds.get("NumberOfFrames") or 1) if header else 0,
        rows=ds.get("Rows"),
        columns=ds.get("Columns"),
        bits_allocated=ds.get("BitsAllocated"),
        samples_per_pixel=ds.get("SamplesPerPixel"),
        photometric_interpretation=str(ds.get("PhotometricInterpretation", "")),
        pixel_data_offset=header.value_offset
        if header and header.value_offset >= 0
        else None,
        pixel_data_length=header.length if header else None,
    )


def full_dataset(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(sample_path(name))
