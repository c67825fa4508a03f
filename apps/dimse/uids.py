"""SOP Class UIDs this part uses (PS3.4 Annex B.5, C.6, K.6, F.7).

Named here rather than imported from pynetdicom.sop_class, whose names are
generated at import time and so invisible to the type checker.
"""

VERIFICATION = "1.2.840.10008.1.1"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31"
MODALITY_PERFORMED_PROCEDURE_STEP = "1.2.840.10008.3.1.2.3.3"
