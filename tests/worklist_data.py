"""Worklist datasets as a RIS would hand them to dcmtk's worklist tools."""

from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian


def worklist_dataset(
    *,
    patient_name: str = "Doe^Jane",
    patient_id: str = "P-001",
    accession: str = "ACC-001",
    study_uid: str = "1.2.826.0.1.3680043.9.7133.1.1",
    station: str = "CT01",
    modality: str = "CT",
    date: str = "20261204",
    time: str = "093000",
    sps_id: str = "SPS-001",
    rp_id: str = "RP-001",
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.AccessionNumber = accession
    ds.ReferringPhysicianName = "House^Gregory"
    ds.RequestedProcedureID = rp_id
    ds.RequestedProcedureDescription = "CT chest"
    ds.StudyInstanceUID = study_uid
    ds.PatientWeight = "61.5"
    step = Dataset()
    step.ScheduledStationAETitle = station
    step.ScheduledProcedureStepStartDate = date
    step.ScheduledProcedureStepStartTime = time
    step.Modality = modality
    step.ScheduledPerformingPhysicianName = "Tech^Tina"
    step.ScheduledProcedureStepDescription = "chest without contrast"
    step.ScheduledProcedureStepID = sps_id
    step.ScheduledStationName = "CTROOM1"
    code = Dataset()
    code.CodeValue = "CTCHEST"
    code.CodingSchemeDesignator = "99LOCAL"
    code.CodeMeaning = "CT of the chest"
    step.ScheduledProtocolCodeSequence = [code]
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def write_worklist_file(path: Path, ds: Dataset) -> Path:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=False)
    return path
