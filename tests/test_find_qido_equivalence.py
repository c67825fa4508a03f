"""The same query over QIDO-RS (HTTP) and C-FIND (a real association)
returns the same UIDs, for generated queries on stored sample files."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from apps.archive.models import Patient, Series, Study
from apps.dimse import scu
from tests.archive_fixtures import store_samples
from tests.qr_peers import HOST, listener

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(archive_client):
    # Past the security guard (tests/test_auth_*.py covers the guard).
    return archive_client


LEVELS = {
    "STUDY": ("studies", "0020000D", "StudyInstanceUID"),
    "SERIES": ("series", "0020000E", "SeriesInstanceUID"),
}


def test_qido_rs_and_c_find_return_the_same_uids(client):
    store_samples()
    names = [
        n.split("=")[0]
        for n in Patient.objects.values_list("patient_name", flat=True)
        if n
    ]
    dates = sorted({d for d in Study.objects.values_list("study_date", flat=True) if d})
    modalities = sorted(
        {m for m in Series.objects.values_list("modality", flat=True) if m}
    )
    ids = list(Patient.objects.values_list("patient_id", flat=True))

    values = {
        "PatientName": st.sampled_from(names).flatmap(
            lambda n: st.sampled_from(
                [n, n.upper(), n[: max(1, len(n) // 2)] + "*", "?" + n[1:]]
            )
        ),
        "PatientID": st.sampled_from(ids),
        "StudyDate": st.lists(st.sampled_from(dates), min_size=2, max_size=2).map(
            lambda pair: "-".join(sorted(pair))
        ),
        "ModalitiesInStudy": st.sampled_from(modalities),
    }

    with listener() as port:
        peer = scu.Peer("PACSWEB", HOST, port)

        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            st.sampled_from(sorted(LEVELS)),
            st.dictionaries(
                st.sampled_from(sorted(values)), st.none(), min_size=1, max_size=2
            ),
            st.data(),
        )
        def check(level, chosen, data):
            keys = {k: data.draw(values[k]) for k in chosen}
            if level == "SERIES":
                keys.pop("ModalitiesInStudy", None)
                keys["Modality"] = data.draw(st.sampled_from(modalities))
            resource, tag, keyword = LEVELS[level]
            identifier = Dataset()
            identifier.SpecificCharacterSet = "ISO_IR 192"
            identifier.QueryRetrieveLevel = level
            setattr(identifier, keyword, "")
            for key, value in keys.items():
                setattr(identifier, key, value)

            over_http = client.get(f"/dicomweb/{resource}", {**keys, "limit": "1000"})
            over_dimse = scu.find(peer, identifier)

            assert over_http.status_code in (200, 204)
            http_uids = {
                item[tag]["Value"][0]
                for item in (over_http.json() if over_http.status_code == 200 else [])
            }
            assert http_uids == {str(getattr(m, keyword)) for m in over_dimse}
            sizes.append(len(http_uids))

        sizes: list[int] = []
        check()

    # The generated queries were not all empty (or all everything).
    assert any(sizes) and min(sizes) < Study.objects.count()
