"""What this part adds to the dicom_listener AE: Query/Retrieve (C-FIND,
C-MOVE, C-GET), Modality Worklist, MPPS and the calling-AE check.

`configure(ae)` adds the presentation contexts and returns the event
handlers to bind when the server starts.
"""

from collections.abc import Iterator

from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, evt
from pynetdicom.service_class import StorageServiceClass
from pynetdicom.sop_class import uid_to_service_class

from apps.dimse import access, find_scp, retrieve_scp, uids, worklist_scp

SOP_CLASSES = [
    uids.PATIENT_ROOT_FIND,
    uids.PATIENT_ROOT_MOVE,
    uids.PATIENT_ROOT_GET,
    uids.STUDY_ROOT_FIND,
    uids.STUDY_ROOT_MOVE,
    uids.STUDY_ROOT_GET,
    uids.MODALITY_WORKLIST_FIND,
    uids.MODALITY_PERFORMED_PROCEDURE_STEP,
]
TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
]


def configure(ae: AE) -> list[tuple]:
    for uid in SOP_CLASSES:
        ae.add_supported_context(uid, TRANSFER_SYNTAXES)
    # C-GET sends over the requestor's own association, acting as SCU for
    # the storage classes it offered with the SCP role (PS3.4 C.4.3.1.2,
    # PS3.7 D.3.3.4): accept the roles it proposes.
    for context in ae.supported_contexts:
        if uid_to_service_class(str(context.abstract_syntax)) is StorageServiceClass:
            context.scu_role = True
            context.scp_role = True

    return [
        (evt.EVT_C_FIND, handle_find),
        (evt.EVT_C_MOVE, retrieve_scp.handle_move),
        (evt.EVT_C_GET, retrieve_scp.handle_get),
        (evt.EVT_N_CREATE, worklist_scp.mpps_create),
        (evt.EVT_N_SET, worklist_scp.mpps_set),
        *access.install(ae),
    ]


def handle_find(event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    if event.context.abstract_syntax == uids.MODALITY_WORKLIST_FIND:
        yield from worklist_scp.find_worklist(event)
    else:
        yield from find_scp.handle_find(event)
