import pytest

from apps.dicomweb.media import (
    DICOM,
    DICOM_JSON,
    EXPLICIT_VR_BE,
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    JSON,
    OCTET_STREAM,
    MediaTypeError,
    choose_json_type,
    choose_transfer_syntax,
    parse_accept,
    parse_media_type,
    wants_multipart,
)

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"


def test_it_reads_a_quoted_boundary_and_type():
    parsed = parse_media_type(
        'Multipart/Related; type="application/dicom"; boundary="a b;c"'
    )

    assert parsed.essence == "multipart/related"
    assert parsed.params == {"type": "application/dicom", "boundary": "a b;c"}


def test_it_reads_unquoted_parameters_with_spaces_around_them():
    parsed = parse_media_type(
        "multipart/related ;TYPE=application/dicom ; boundary=xyz"
    )

    assert parsed.params == {"type": "application/dicom", "boundary": "xyz"}


def test_it_unescapes_quoted_pairs():
    assert parse_media_type(r'text/plain; x="a\"b\\c"').params == {"x": 'a"b\\c'}


@pytest.mark.parametrize(
    "text", ["", "dicom", "multipart/", "a/b; noequals", 'a/b; x="open']
)
def test_it_refuses_a_malformed_media_type(text):
    with pytest.raises(MediaTypeError):
        parse_media_type(text)


def test_it_orders_a_list_by_q_and_drops_q_zero():
    accept = parse_accept(
        'application/json;q=0.5, application/dicom+json, multipart/related; type="application/dicom"; q=0'
    )

    assert [(m.essence, m.q) for m in accept] == [(DICOM_JSON, 1.0), (JSON, 0.5)]


def test_it_keeps_the_client_order_for_equal_q():
    accept = parse_accept("application/json, application/dicom+json")

    assert [m.essence for m in accept] == [JSON, DICOM_JSON]


def test_it_splits_a_list_only_outside_quotes():
    accept = parse_accept('multipart/related; type="a,b", */*')

    assert [(m.essence, m.params) for m in accept] == [
        ("multipart/related", {"type": "a,b"}),
        ("*/*", {}),
    ]


def test_it_refuses_a_q_value_out_of_range():
    with pytest.raises(MediaTypeError, match="q must be a number from 0 to 1"):
        parse_accept("application/dicom+json; q=2")


def _instance(header: str | None, stored: str) -> str | None:
    return choose_transfer_syntax(parse_accept(header), DICOM, stored)


def test_instances_any_transfer_syntax_gives_the_stored_one():
    header = 'multipart/related; type="application/dicom"; transfer-syntax=*'

    assert _instance(header, JPEG_BASELINE) == JPEG_BASELINE
    assert _instance(header, IMPLICIT_VR_LE) == IMPLICIT_VR_LE


def test_instances_asking_for_the_stored_syntax_gives_it():
    header = f'multipart/related; type="application/dicom"; transfer-syntax="{JPEG_BASELINE}"'

    assert _instance(header, JPEG_BASELINE) == JPEG_BASELINE


def test_instances_asking_for_another_syntax_is_not_acceptable():
    header = (
        f'multipart/related; type="application/dicom"; transfer-syntax={EXPLICIT_VR_LE}'
    )

    assert _instance(header, JPEG_BASELINE) is None


def test_instances_without_transfer_syntax_default_to_explicit_vr_little_endian():
    header = 'multipart/related; type="application/dicom"'

    assert _instance(header, EXPLICIT_VR_LE) == EXPLICIT_VR_LE
    assert _instance(header, IMPLICIT_VR_LE) is None


def test_instances_with_no_accept_header_or_wildcards_use_the_default():
    for header in (None, "*/*", "multipart/*", "multipart/related"):
        assert _instance(header, EXPLICIT_VR_LE) == EXPLICIT_VR_LE
        assert _instance(header, EXPLICIT_VR_BE) is None


def test_instances_of_another_part_type_are_not_acceptable():
    assert (
        _instance('multipart/related; type="application/dicom+xml"', EXPLICIT_VR_LE)
        is None
    )
    assert _instance(f"{DICOM_JSON}", EXPLICIT_VR_LE) is None


def test_instances_as_a_single_part_are_not_acceptable():
    assert _instance("application/dicom; transfer-syntax=*", EXPLICIT_VR_LE) is None


def test_instances_take_the_first_servable_range_in_q_order():
    header = (
        f'multipart/related; type="application/dicom"; transfer-syntax={EXPLICIT_VR_LE}, '
        'multipart/related; type="application/dicom"; transfer-syntax=*; q=0.1'
    )

    assert _instance(header, JPEG_BASELINE) == JPEG_BASELINE


def test_bulkdata_single_part_octet_stream_is_acceptable():
    accept = parse_accept("application/octet-stream")

    assert (
        choose_transfer_syntax(
            accept, OCTET_STREAM, EXPLICIT_VR_LE, multipart_only=False
        )
        == EXPLICIT_VR_LE
    )
    assert wants_multipart(accept, OCTET_STREAM) is False


def test_bulkdata_multipart_octet_stream_is_preferred_by_default():
    accept = parse_accept('multipart/related; type="application/octet-stream"')

    assert (
        choose_transfer_syntax(
            accept, OCTET_STREAM, EXPLICIT_VR_LE, multipart_only=False
        )
        == EXPLICIT_VR_LE
    )
    assert wants_multipart(accept, OCTET_STREAM) is True
    assert wants_multipart(parse_accept(None), OCTET_STREAM) is True


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        (None, DICOM_JSON),
        ("*/*", DICOM_JSON),
        ("application/*", DICOM_JSON),
        ("application/dicom+json", DICOM_JSON),
        ("application/json", JSON),
        ("application/json;q=0.9, application/dicom+json", DICOM_JSON),
        ('multipart/related; type="application/dicom+xml"', None),
        ("application/dicom+xml", None),
    ],
)
def test_metadata_media_type_for_each_accept_header(header, chosen):
    assert choose_json_type(parse_accept(header)) == chosen


def test_bulkdata_multipart_with_a_wildcard_part_type_is_acceptable():
    accept = parse_accept('multipart/related; type="*/*"')

    assert (
        choose_transfer_syntax(accept, OCTET_STREAM, EXPLICIT_VR_LE) == EXPLICIT_VR_LE
    )
    assert choose_transfer_syntax(accept, DICOM, IMPLICIT_VR_LE) is None
