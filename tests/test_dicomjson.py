import json
import math

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from apps.archive import dicomjson
from apps.archive.parse import read_header
from tests.conftest import sample, storable_samples

BASE = "\x00studies/1/series/2/instances/3"


def _convert(ds: Dataset, inline_max: int = 64) -> dict:
    result = dicomjson.dataset_to_json(ds, bulkdata_base=BASE, inline_max=inline_max)
    # Whatever the values, the document must be strict JSON.
    json.loads(dicomjson.dumps(result))
    return result


def test_it_writes_person_names_as_component_groups():
    ds = pydicom.dcmread(sample("chrH31.dcm"))

    result = _convert(ds)

    assert result["00100010"]["Value"] == [
        {
            "Alphabetic": "Yamada^Tarou",
            "Ideographic": "山田^太郎",
            "Phonetic": "やまだ^たろう",
        }
    ]


def test_it_writes_integer_and_decimal_strings_as_numbers():
    ds = Dataset()
    ds.InstanceNumber = "7"
    ds.add_new(0x00280030, "DS", ["0.5", "1e3"])
    ds.add_new(0x00181050, "DS", "2")

    result = _convert(ds)

    assert result["00200013"] == {"vr": "IS", "Value": [7]}
    assert result["00280030"]["Value"] == [0.5, 1000.0]
    assert result["00181050"]["Value"] == [2]


def _raw(ds: Dataset, tag: int, vr: str, value: bytes) -> None:
    # As a file reader hands values over: bytes, converted on access.
    ds[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)


def test_it_keeps_malformed_legacy_numbers_as_strings_instead_of_breaking_json():
    ds = Dataset()
    _raw(ds, 0x00280030, "DS", b"1.5.2 ")
    _raw(ds, 0x00200013, "IS", b"abc ")
    _raw(ds, 0x00181050, "DS", b"NaN ")

    result = _convert(ds)

    assert result["00280030"]["Value"] == ["1.5.2"]
    assert result["00200013"]["Value"] == ["abc"]
    assert result["00181050"]["Value"] == ["NaN"]


def test_it_writes_non_finite_floats_as_strings():
    ds = Dataset()
    ds.add_new(0x00186028, "FD", [math.nan, math.inf, -math.inf, 1.25])

    result = _convert(ds)

    assert result["00186028"]["Value"] == ["NaN", "Infinity", "-Infinity", 1.25]


def test_it_writes_64_bit_integers_beyond_double_precision_as_strings():
    ds = Dataset()
    ds.add_new(0x00720082, "SV", [2**62, -(2**62), 42])
    ds.add_new(0x00720083, "UV", [2**64 - 1])

    result = _convert(ds)

    assert result["00720082"]["Value"] == [str(2**62), str(-(2**62)), 42]
    assert result["00720083"]["Value"] == [str(2**64 - 1)]


def test_it_omits_value_for_empty_elements_and_uses_null_inside_multi_values():
    ds = Dataset()
    ds.add_new(0x00081030, "LO", "")
    ds.add_new(0x00080008, "CS", ["ORIGINAL", "", "AXIAL"])

    result = _convert(ds)

    assert result["00081030"] == {"vr": "LO"}
    assert result["00080008"]["Value"] == ["ORIGINAL", None, "AXIAL"]


def test_it_inlines_small_binary_and_refers_to_large_binary_by_uri():
    ds = Dataset()
    ds.add_new(0x00091010, "OB", b"\x01\x02")
    ds.add_new(0x00091011, "OB", b"x" * 100)

    result = _convert(ds, inline_max=64)

    assert result["00091010"] == {"vr": "OB", "InlineBinary": "AQI="}
    assert result["00091011"] == {
        "vr": "OB",
        "BulkDataURI": BASE + "/bulkdata/00091011",
    }


def test_it_gives_nested_bulk_data_a_path_through_the_sequence():
    item = Dataset()
    item.add_new(0x00091011, "OB", b"y" * 100)
    ds = Dataset()
    ds.add_new(0x00540016, "SQ", Sequence([Dataset(), item]))

    result = _convert(ds)

    nested = result["00540016"]["Value"][1]["00091011"]
    assert nested["BulkDataURI"] == BASE + "/bulkdata/00540016/1/00091011"
    assert result["00540016"]["Value"][0] == {}


def test_it_drops_nul_characters_so_the_bulk_marker_stays_unambiguous():
    ds = Dataset()
    ds.PatientName = "Doe\x00^John"
    ds.StudyDescription = "head\x00"

    text = dicomjson.dumps(_convert(ds))

    assert "\\u0000" not in text
    assert json.loads(text)["00081030"]["Value"] == ["head"]


def test_it_writes_attribute_tags_as_hex_strings():
    ds = Dataset()
    ds.add_new(0x00209165, "AT", [0x00100010, 0x7FE00010])

    result = _convert(ds)

    assert result["00209165"]["Value"] == ["00100010", "7FE00010"]


def test_it_keeps_private_and_unknown_elements():
    ds = pydicom.dcmread(sample("badVR.dcm"))

    result = _convert(ds)

    assert all(len(tag) == 8 for tag in result)
    assert len(result) >= len([e for e in ds if e.tag.element != 0]) - 1


@pytest.mark.parametrize(
    "name", ["rtplan.dcm", "test-SR.dcm", "waveform_ecg.dcm", "chrSQEncoding.dcm"]
)
def test_it_converts_sequence_heavy_files(name: str):
    ds = pydicom.dcmread(sample(name))

    result = _convert(ds)

    sequences = [v for v in result.values() if v["vr"] == "SQ" and "Value" in v]
    assert sequences


@pytest.mark.parametrize("path", storable_samples(), ids=lambda p: p.name)
def test_it_converts_a_header_as_read_like_a_fully_decoded_one(path):
    # Conversion skips pydicom's store-back for plain top-level elements
    # (dicomjson._converted); the JSON must be what full decoding gives.
    as_read = read_header(path).dataset
    decoded = read_header(path).dataset
    list(decoded.iterall())  # every element decoded in the dataset, by pydicom

    assert _convert(as_read) == _convert(decoded)
