"""The Query/Retrieve, Modality Worklist and MPPS service of the listener.

C-FIND (Patient and Study Root, Modality Worklist), C-MOVE, C-GET,
MPPS N-CREATE/N-SET. Storage contexts are declared again with both roles
accepted, because C-GET sends its instances back over the requestor's own
association, with pacsweb as the storage SCU (PS3.4 C.4.3.1.2, PS3.7
D.3.3.4).
"""

from collections.abc import Iterator

from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian
from pynetdicom import AllStoragePresentationContexts, evt

from apps.archive.status import ProcedureStepStatus, QueryRetrieveStatus
from apps.dimse import find_scp, retrieve_scp, uids, worklist_scp
from apps.dimse.service import Context, Service, guarded
from apps.dimse.syntaxes import STORAGE, UNCOMPRESSED

QUERY_SYNTAXES = [*UNCOMPRESSED, DeflatedExplicitVRLittleEndian]


@guarded(QueryRetrieveStatus.UNABLE_TO_PROCESS)
def handle_find(event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    if event.context.abstract_syntax == uids.MODALITY_WORKLIST_FIND:
        yield from worklist_scp.find_worklist(event)
    else:
        yield from find_scp.handle_find(event)


SERVICE = Service(
    name="query/retrieve, worklist, MPPS",
    contexts=[
        *(
            Context(uid, QUERY_SYNTAXES)
            for uid in (
                uids.PATIENT_ROOT_FIND,
                uids.PATIENT_ROOT_MOVE,
                uids.PATIENT_ROOT_GET,
                uids.STUDY_ROOT_FIND,
                uids.STUDY_ROOT_MOVE,
                uids.STUDY_ROOT_GET,
                uids.MODALITY_WORKLIST_FIND,
                uids.MODALITY_PERFORMED_PROCEDURE_STEP,
            )
        ),
        *(
            Context(str(cx.abstract_syntax), STORAGE, scu_role=True, scp_role=True)
            for cx in AllStoragePresentationContexts
        ),
    ],
    handlers=[
        (evt.EVT_C_FIND, handle_find),
        (
            evt.EVT_C_MOVE,
            guarded(QueryRetrieveStatus.UNABLE_TO_PROCESS)(retrieve_scp.handle_move),
        ),
        (
            evt.EVT_C_GET,
            guarded(QueryRetrieveStatus.UNABLE_TO_PROCESS)(retrieve_scp.handle_get),
        ),
        (
            evt.EVT_N_CREATE,
            guarded(ProcedureStepStatus.PROCESSING_FAILURE)(worklist_scp.mpps_create),
        ),
        (
            evt.EVT_N_SET,
            guarded(ProcedureStepStatus.PROCESSING_FAILURE)(worklist_scp.mpps_set),
        ),
    ],
)
