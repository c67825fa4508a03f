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
