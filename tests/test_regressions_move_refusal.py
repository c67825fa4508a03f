"""A C-MOVE whose identifier is refused must reach the peer with its status.

The handler yielded the destination without presentation contexts, so
pynetdicom could not associate with it and answered 0xC515 (with a
traceback in the log) instead of the refusal the handler meant to send.
"""

import pydicom
import pytest

from apps.archive.ingest import ingest_file
from apps.archive.status import QueryRetrieveStatus
from apps.dimse import scu
from apps.dimse.models import RemoteAE
from tests.conftest import sample
from tests.qr_peers import HOST, free_port, listener, process

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def storescp(tmp_path):
    port = free_port()
    out = tmp_path / "received"
    out.mkdir()
    RemoteAE.objects.create(ae_title="STORESCP", host=HOST, port=port)
    with process(
        ["storescp", "-aet", "STORESCP", "-od", str(out), "+xa", str(port)], port
    ):
        yield out


def test_a_move_without_the_level_key_is_refused_with_a900(storescp):
    ct = ingest_file(sample("CT_small.dcm"))
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "SERIES"
    identifier.StudyInstanceUID = ct.identity.study_uid

    with listener() as port:
        with pytest.raises(scu.DimseFailure) as caught:
            scu.move(scu.Peer("PACSWEB", HOST, port), identifier, "STORESCP")

    assert (
        caught.value.status == QueryRetrieveStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS
    )
    assert list(storescp.iterdir()) == []
