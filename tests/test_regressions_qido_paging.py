"""QIDO-RS limit/offset values that used to escape validation as a 500.

A huge offset overflowed SQLite's 64-bit OFFSET ("datatype mismatch"), and
non-ASCII digits such as "²" passed str.isdigit() and then failed int().
"""

import pytest

from tests.archive_fixtures import CT_STUDY, MR_STUDY, store_samples

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(archive_client):
    # Past the security guard (tests/test_auth_*.py covers the guard).
    return archive_client


@pytest.fixture
def few():
    store_samples(("CT_small.dcm", "MR_small.dcm"))


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (
            "offset=99999999999999999999999",
            "offset: must be at most 4611686018427387904, got 99999999999999999999999",
        ),
        (
            "limit=99999999999999999999999",
            "limit: must be at most 4611686018427387904, got 99999999999999999999999",
        ),
        ("offset=\u00b2", "offset: must be a non-negative integer, got '\u00b2'"),
        ("limit=\u00b2", "limit: must be a positive integer, got '\u00b2'"),
        ("limit=\u0661", "limit: must be a positive integer, got '\u0661'"),
    ],
)
def test_it_refuses_out_of_range_or_non_ascii_paging_values_with_a_400(
    client, few, query, reason
):
    response = client.get("/dicomweb/studies?" + query)

    assert response.status_code == 400
    assert response.json() == {"status": 400, "reason": reason}


def test_the_largest_allowed_offset_is_an_empty_page(client, few):
    response = client.get("/dicomweb/studies", {"offset": 2**62, "limit": 1000})

    assert response.status_code == 200
    assert response.json() == []


def test_paging_with_plain_digits_still_works(client, few):
    first = client.get("/dicomweb/studies", {"limit": "1", "offset": "0"})
    second = client.get("/dicomweb/studies", {"limit": "1", "offset": "1"})

    uids = [r.json()[0]["0020000D"]["Value"][0] for r in (first, second)]
    assert sorted(uids) == sorted([CT_STUDY, MR_STUDY])
