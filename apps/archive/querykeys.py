"""The attributes the archive can match on, per level, and where they live.

One table serves QIDO-RS (PS3.18 10.6.1.2) and C-FIND (PS3.4 C.6.1.1 and
C.6.2.1): each key names its level, its VR and the column that holds it, so
that a query from either protocol becomes the same ORM filter. Attributes
that have no column can still be returned (from the stored DICOM JSON) but
are not matched on; see apps/archive/matching.py for how that is reported.
"""

from dataclasses import dataclass
from enum import IntEnum

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword


class Level(IntEnum):
    """Query/Retrieve levels, ordered from the top of the hierarchy down."""

    PATIENT = 0
    STUDY = 1
    SERIES = 2
    INSTANCE = 3

    @classmethod
    def from_dicom(cls, text: str) -> "Level":
        """A QueryRetrieveLevel (0008,0052) value; IMAGE is the instance level."""
        value = text.strip().upper()
        if value == "IMAGE":
            return cls.INSTANCE
        return cls[value]


# How a column is compared (apps/archive/matching.py builds the filter).
PN = "pn"  # folded *_norm column, "Alphabetic=Ideographic=Phonetic"
TEXT = "text"  # exact, case-sensitive (PS3.4 C.2.2.2.1)
UID = "uid"
DATE = "date"  # YYYYMMDD (apps/archive/text.normalize_date)
TIME = "time"  # HHMMSS.FFFFFF (apps/archive/text.normalize_time)
INT = "int"
MODALITIES = "modalities"  # through StudyModality rows


@dataclass(frozen=True)
class Key:
    keyword: str
    tag: str  # "00100010"
    vr: str
    level: Level
    column: str  # on the model of `level`
    kind: str


def _key(keyword: str, level: Level, column: str, kind: str) -> Key:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise ValueError(f"unknown DICOM keyword {keyword}")
    return Key(keyword, f"{tag:08X}", dictionary_VR(tag), level, column, kind)


_P, _ST, _SE, _I = Level.PATIENT, Level.STUDY, Level.SERIES, Level.INSTANCE

MATCHING_KEYS: dict[str, Key] = {
    key.tag: key
    for key in (
        _key("PatientName", _P, "patient_name_norm", PN),
        _key("PatientID", _P, "patient_id", TEXT),
        _key("IssuerOfPatientID", _P, "issuer_of_patient_id", TEXT),
        _key("PatientBirthDate", _P, "patient_birth_date", DATE),
        _key("PatientSex", _P, "patient_sex", TEXT),
        _key("StudyInstanceUID", _ST, "study_instance_uid", UID),
        _key("StudyDate", _ST, "study_date", DATE),
        _key("StudyTime", _ST, "study_time", TIME),
        _key("AccessionNumber", _ST, "accession_number", TEXT),
        _key("StudyID", _ST, "study_id", TEXT),
        _key("StudyDescription", _ST, "study_description", TEXT),
        _key("ReferringPhysicianName", _ST, "referring_physician_name_norm", PN),
        _key("ModalitiesInStudy", _ST, "modality_rows__modality", MODALITIES),
        _key("SeriesInstanceUID", _SE, "series_instance_uid", UID),
        _key("Modality", _SE, "modality", TEXT),
        _key("SeriesNumber", _SE, "series_number", INT),
        _key("SeriesDescription", _SE, "series_description", TEXT),
        _key("BodyPartExamined", _SE, "body_part_examined", TEXT),
        _key(
            "PerformedProcedureStepStartDate",
            _SE,
            "performed_procedure_step_start_date",
            DATE,
        ),
        _key(
            "PerformedProcedureStepStartTime",
            _SE,
            "performed_procedure_step_start_time",
            TIME,
        ),
        _key("StationName", _SE, "station_name", TEXT),
        _key("InstitutionName", _SE, "institution_name", TEXT),
        _key("SOPInstanceUID", _I, "sop_instance_uid", UID),
        _key("SOPClassUID", _I, "sop_class_uid", UID),
        _key("InstanceNumber", _I, "instance_number", INT),
        _key("ContentDate", _I, "content_date", DATE),
        _key("ContentTime", _I, "content_time", TIME),
    )
}

# Attributes computed by the archive rather than copied from a file.
RETRIEVE_URL = "00081190"
INSTANCE_AVAILABILITY = "00080056"
MODALITIES_IN_STUDY = "00080061"
NUMBER_OF_PATIENT_RELATED_STUDIES = "00201200"
NUMBER_OF_STUDY_RELATED_SERIES = "00201206"
NUMBER_OF_STUDY_RELATED_INSTANCES = "00201208"
NUMBER_OF_SERIES_RELATED_INSTANCES = "00201209"
SPECIFIC_CHARACTER_SET = "00080005"
QUERY_RETRIEVE_LEVEL = "00080052"


def _tags(*keywords: str) -> tuple[str, ...]:
    return tuple(f"{tag_for_keyword(k):08X}" for k in keywords)


# PS3.18 Tables 10.6.3-3, -4 and -5: what a search returns without
# includefield. StudyDescription is not in Table 10.6.3-3 but every viewer
# asks for it, so it is returned too. SpecificCharacterSet is left out:
# the JSON is Unicode, and the file's character set would mislead.
DEFAULT_RETURN: dict[Level, tuple[str, ...]] = {
    Level.PATIENT: _tags(
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "PatientBirthDate",
        "PatientSex",
        "NumberOfPatientRelatedStudies",
    ),
    Level.STUDY: _tags(
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "InstanceAvailability",
        "ModalitiesInStudy",
        "ReferringPhysicianName",
        "RetrieveURL",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyID",
        "StudyDescription",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    Level.SERIES: _tags(
        "Modality",
        "SeriesDescription",
        "RetrieveURL",
        "SeriesInstanceUID",
        "SeriesNumber",
        "NumberOfSeriesRelatedInstances",
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
        "RequestAttributesSequence",
    ),
    Level.INSTANCE: _tags(
        "SOPClassUID",
        "SOPInstanceUID",
        "InstanceAvailability",
        "RetrieveURL",
        "InstanceNumber",
        "Rows",
        "Columns",
        "BitsAllocated",
        "NumberOfFrames",
    ),
}


def tag_of(name: str) -> str | None:
    """A keyword or an 8-digit hex tag to "GGGGEEEE"; None if neither."""
    text = name.strip()
    if len(text) == 8 and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.upper()
    tag = tag_for_keyword(text)
    return f"{tag:08X}" if tag is not None else None


def vr_of(tag: str) -> str:
    """The dictionary VR of a tag ("UN" for private or unknown tags)."""
    try:
        vr = dictionary_VR(int(tag, 16))
    except KeyError:
        return "UN"
    return vr.split(" or ")[0]


def keyword_of(tag: str) -> str:
    return keyword_for_tag(int(tag, 16)) or tag
