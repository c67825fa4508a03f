"""Which attributes belong to which level of the information model.

PS3.3 C.7 (Patient, General Study, Patient Study, General Series modules)
and PS3.4 C.6.1.1 (Q/R keys per level). The study- and series-level JSON
kept for QIDO-RS `includefield` and C-FIND return keys is the subset of an
instance's JSON whose tags are listed here.
"""

from pydicom.datadict import tag_for_keyword


def _tags(*keywords: str) -> frozenset[str]:
    tags = set()
    for keyword in keywords:
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise ValueError(f"unknown DICOM keyword {keyword}")
        tags.add(f"{tag:08X}")
    return frozenset(tags)


PATIENT_TAGS = _tags(
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence",
    "TypeOfPatientID",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientSex",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "EthnicGroup",
    "PatientComments",
    "PatientSpeciesDescription",
    "PatientBreedDescription",
    "ResponsiblePerson",
    "ResponsibleOrganization",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
)

STUDY_TAGS = PATIENT_TAGS | _tags(
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "IssuerOfAccessionNumberSequence",
    "StudyID",
    "StudyDescription",
    "ReferringPhysicianName",
    "ReferringPhysicianIdentificationSequence",
    "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy",
    "ProcedureCodeSequence",
    "ReferencedStudySequence",
    "AdmittingDiagnosesDescription",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "Occupation",
    "AdditionalPatientHistory",
    "OtherStudyNumbers",
    "ReasonForPerformedProcedureCodeSequence",
)

SERIES_TAGS = _tags(
    "SpecificCharacterSet",
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "SeriesDate",
    "SeriesTime",
    "Laterality",
    "BodyPartExamined",
    "ProtocolName",
    "PerformingPhysicianName",
    "OperatorsName",
    "PatientPosition",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "PerformedProcedureStepID",
    "PerformedProcedureStepDescription",
    "RequestAttributesSequence",
    "Manufacturer",
    "ManufacturerModelName",
    "StationName",
    "InstitutionName",
    "InstitutionalDepartmentName",
    "SeriesType",
    "FrameOfReferenceUID",
)


def subset(instance_json: dict, tags: frozenset[str]) -> dict:
    return {tag: value for tag, value in instance_json.items() if tag in tags}
