"""DICOM status codes used by pacsweb, named after the standard.

C-STORE statuses: PS3.4 B.2.3 (Storage Service Class) and PS3.7 C (general).
STOW-RS failure reasons reuse them (PS3.18 10.5.3, Table I.2-1 / Store
Instances Response): the FailureReason (0008,1197) of a failed instance.
"""

from enum import IntEnum


class Status(IntEnum):
    SUCCESS = 0x0000

    # Warnings (PS3.4 B.2.3)
    COERCION_OF_DATA_ELEMENTS = 0xB000
    ELEMENTS_DISCARDED = 0xB006
    DATA_SET_DOES_NOT_MATCH_SOP_CLASS_WARNING = 0xB007

    # Failures
    PROCESSING_FAILURE = 0x0110  # PS3.7 C.4.2
    DUPLICATE_SOP_INSTANCE = 0x0111  # PS3.7 C.4.4
    NO_SUCH_OBJECT_INSTANCE = 0x0112
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    NOT_AUTHORIZED = 0x0124
    OUT_OF_RESOURCES = 0xA700  # PS3.4 B.2.3: A7xx
    DATA_SET_DOES_NOT_MATCH_SOP_CLASS = 0xA900  # A9xx
    CANNOT_UNDERSTAND = 0xC000  # Cxxx
    TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122  # PS3.18 Table I.2-1


class QueryRetrieveStatus(IntEnum):
    """C-FIND, C-MOVE and C-GET statuses (PS3.4 C.4.1.1.4, C.4.2.1.5,
    C.4.3.1.4) and Modality Worklist C-FIND (PS3.4 K.4.1.1.4)."""

    SUCCESS = 0x0000
    PENDING = 0xFF00
    # Pending, but some optional keys were not supported (C-FIND).
    PENDING_WARNING = 0xFF01
    CANCEL = 0xFE00
    # Sub-operations complete, one or more failures or warnings.
    SUB_OPERATIONS_WITH_FAILURES = 0xB000
    NOT_AUTHORIZED = 0x0124  # PS3.7 C.5.18 Refused: Not Authorized
    OUT_OF_RESOURCES = 0xA700  # C-FIND
    OUT_OF_RESOURCES_MATCHES = 0xA701  # unable to calculate number of matches
    OUT_OF_RESOURCES_SUB_OPERATIONS = 0xA702  # unable to perform sub-operations
    MOVE_DESTINATION_UNKNOWN = 0xA801
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    UNABLE_TO_PROCESS = 0xC000


class ProcedureStepStatus(IntEnum):
    """N-CREATE / N-SET statuses for Modality Performed Procedure Step
    (PS3.4 F.7.2.1.2, F.7.2.2.2; general codes from PS3.7 C)."""

    SUCCESS = 0x0000
    NO_SUCH_ATTRIBUTE = 0x0105
    INVALID_ATTRIBUTE_VALUE = 0x0106
    PROCESSING_FAILURE = 0x0110
    DUPLICATE_SOP_INSTANCE = 0x0111
    NO_SUCH_OBJECT_INSTANCE = 0x0112
    MISSING_ATTRIBUTE = 0x0120
    MISSING_ATTRIBUTE_VALUE = 0x0121
    NOT_AUTHORIZED = 0x0124


# PS3.4 F.7.2.2.2: the Error ID sent with PROCESSING_FAILURE when an N-SET
# arrives for a step already COMPLETED or DISCONTINUED.
MPPS_MAY_NO_LONGER_BE_UPDATED = 0xC310
