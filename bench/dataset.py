"""The benchmark dataset: pydicom's sample images under new identities.

Every instance is a real sample file (CT, MR, JPEG-LS MR, RGB ultrasound,
JPEG secondary capture) with new UIDs and varied patient and study
attributes, so the servers index realistic text (non-ASCII and Japanese
names, dates over ten years, several modalities per study). Native images
are shrunk so that tens of thousands of instances stay small on disk.

The generator is deterministic for a given Shape: UIDs are derived from the
seed, and a folder that already holds a complete manifest for the same
shape is reused.
"""

import json
import logging
import random
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
from pydicom.dataset import Dataset
from pydicom.uid import UID, generate_uid

logger = logging.getLogger(__name__)

# Bump when the generated files change, so old folders are not reused.
FORMAT_VERSION = 3
MANIFEST = "manifest.json"
TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"


@dataclass(frozen=True)
class Template:
    file: str
    modality: str
    # Keep every `step`-th row and column of a native image; None leaves an
    # encapsulated (compressed) image exactly as pydicom ships it.
    step: int | None


TEMPLATES = {
    "CT": Template("CT_small.dcm", "CT", 2),
    "MR": Template("MR_small.dcm", "MR", 1),
    "MR-JLS": Template("MR_small_jpeg_ls_lossless.dcm", "MR", None),
    "US": Template("examples_rgb_color.dcm", "US", 4),
    "OT": Template("SC_rgb_jpeg_dcmtk.dcm", "OT", None),
}

# Study kinds and how often they occur; MR studies alternate native and
# JPEG-LS series, and some studies end with a secondary-capture series.
STUDY_KINDS = [("CT", 0.45), ("MR", 0.35), ("US", 0.20)]
SECONDARY_CAPTURE_SHARE = 0.3

FAMILY_NAMES = [
    "MÜLLER",
    "GARCÍA",
    "NOWAK",
    "SMITH",
    "SMITHSON",
    "JOHANSSON",
    "ØSTERGAARD",
    "DUBOIS",
    "KOWALSKI",
    "ROSSI",
    "NGUYEN",
    "O'BRIEN",
    "ŁUKASZEWICZ",
    "PETERS",
    "IVANOVA",
    "HERNÁNDEZ",
    "BROWN",
    "SCHNEIDER",
    "KIM",
    "YAMADA",
]
GIVEN_NAMES = [
    "ANNA",
    "JOSÉ",
    "LUCA",
    "MARIA",
    "JOHN",
    "ZOË",
    "BJÖRN",
    "FRANÇOIS",
    "MEI",
    "OLUWASEUN",
    "SØREN",
    "INÊS",
    "PIOTR",
    "HANNA",
    "ÉLODIE",
    "TARO",
]
# Japanese patients carry ideographic and phonetic groups (PS3.5 6.2.1).
JAPANESE_NAMES = [
    "YAMADA^TARO=山田^太郎=やまだ^たろう",
    "TANAKA^HANAKO=田中^花子=たなか^はなこ",
]
INSTITUTIONS = ["ST MARY HOSPITAL", "KLINIKUM NORD", "HÔPITAL CENTRAL", "CITY CLINIC"]
DESCRIPTIONS = {
    "CT": ["CT CHEST W/O CONTRAST", "CT ABDOMEN PELVIS", "CT HEAD"],
    "MR": ["MR BRAIN", "MR KNEE LEFT", "MR LUMBAR SPINE"],
    "US": ["US ABDOMEN", "US THYROID", "US OBSTETRIC"],
}
FIRST_STUDY_DATE = date(2016, 1, 1)
STUDY_DATE_SPAN_DAYS = 3652


@dataclass(frozen=True)
class Shape:
    patients: int
    studies_per_patient: int
    series_per_study: int
    instances_per_series: int
    seed: int = 1

    @property
    def instances(self) -> int:
        return (
            self.patients
            * self.studies_per_patient
            * self.series_per_study
            * self.instances_per_series
        )

    def key(self) -> str:
        return (
            f"v{FORMAT_VERSION}-p{self.patients}-st{self.studies_per_patient}"
            f"-se{self.series_per_study}-i{self.instances_per_series}-seed{self.seed}"
        )


@dataclass
class InstanceEntry:
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    path: str  # relative to the dataset folder
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    native: bool  # uncompressed pixel data
    size: int


@dataclass
class SeriesEntry:
    series_instance_uid: str
    modality: str
    instances: list[InstanceEntry] = field(default_factory=list)


@dataclass
class StudyEntry:
    study_instance_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    accession_number: str
    series: list[SeriesEntry] = field(default_factory=list)

    @property
    def modalities(self) -> set[str]:
        return {s.modality for s in self.series}

    @property
    def instance_count(self) -> int:
        return sum(len(s.instances) for s in self.series)


@dataclass
class BenchData:
    folder: Path
    shape: Shape
    studies: list[StudyEntry]

    def path(self, instance: InstanceEntry) -> Path:
        return self.folder / instance.path

    def all_series(self) -> list[tuple[StudyEntry, SeriesEntry]]:
        return [(st, se) for st in self.studies for se in st.series]

    def all_instances(self) -> list[tuple[StudyEntry, SeriesEntry, InstanceEntry]]:
        return [(st, se, i) for st, se in self.all_series() for i in se.instances]

    @property
    def total_bytes(self) -> int:
        return sum(i.size for _, _, i in self.all_instances())


def load_or_generate(root: Path, shape: Shape) -> BenchData:
    folder = root / shape.key()
    manifest = folder / MANIFEST
    if manifest.exists():
        return _read_manifest(folder)

    studies = generate(folder, shape)
    # The manifest is written last: its presence marks a complete folder.
    payload = {"shape": asdict(shape), "studies": [asdict(s) for s in studies]}
    manifest.write_text(json.dumps(payload, ensure_ascii=False))
    return BenchData(folder, shape, studies)


def _read_manifest(folder: Path) -> BenchData:
    payload = json.loads((folder / MANIFEST).read_text())
    studies = []
    for st in payload["studies"]:
        series = [
            SeriesEntry(
                se["series_instance_uid"],
                se["modality"],
                [InstanceEntry(**i) for i in se["instances"]],
            )
            for se in st.pop("series")
        ]
        studies.append(StudyEntry(**st, series=series))
    return BenchData(folder, Shape(**payload["shape"]), studies)


def generate(folder: Path, shape: Shape) -> list[StudyEntry]:
    rng = random.Random(shape.seed)
    templates = {name: _load_template(t) for name, t in TEMPLATES.items()}
    studies: list[StudyEntry] = []

    for p in range(shape.patients):
        patient = _patient(rng, p)
        for _ in range(shape.studies_per_patient):
            kind = rng.choices(
                [k for k, _ in STUDY_KINDS], [w for _, w in STUDY_KINDS]
            )[0]
            study, attributes = _study(rng, shape, kind, patient, len(studies))
            kinds = _series_kinds(rng, kind, shape.series_per_study)
            for n, series_kind in enumerate(kinds):
                template = templates[series_kind]
                series = _write_series(
                    folder, shape, study, attributes, series_kind, n, template
                )
                study.series.append(series)
            studies.append(study)
    return studies


def _load_template(template: Template) -> Dataset:
    ds = pydicom.dcmread(TEST_FILES / template.file)
    if template.step is not None:
        pixels = ds.pixel_array[:: template.step, :: template.step]
        pixels = np.ascontiguousarray(pixels)
        ds.Rows, ds.Columns = pixels.shape[0], pixels.shape[1]
        ds.PixelData = pixels.tobytes()
        if "PixelSpacing" in ds:
            ds.PixelSpacing = [float(v) * template.step for v in ds.PixelSpacing]
        if ds.get("SamplesPerPixel", 1) > 1:
            ds.PlanarConfiguration = 0
    else:
        # PS3.5 A.4: encapsulated pixel data is OB; one pydicom sample says
        # OW, which dcmtk corrects in transit (so copies would differ).
        ds["PixelData"].VR = "OB"
    ds.SpecificCharacterSet = "ISO_IR 192"
    # dcmtk (storescu) drops trailing padding when it sends a file, which
    # would make C-STORE and STOW-RS copies of one instance differ.
    for keyword in (
        "OtherPatientIDs",
        "RequestAttributesSequence",
        "DataSetTrailingPadding",
    ):
        if keyword in ds:
            delattr(ds, keyword)
    return ds


def _patient(rng: random.Random, index: int) -> dict[str, str]:
    if rng.random() < 0.05:
        name = rng.choice(JAPANESE_NAMES)
    else:
        name = f"{rng.choice(FAMILY_NAMES)}^{rng.choice(GIVEN_NAMES)}"
    born = date(1930, 1, 1) + timedelta(days=rng.randrange(85 * 365))
    return {
        "PatientID": f"BP{index:06d}",
        "PatientName": name,
        "PatientBirthDate": born.strftime("%Y%m%d"),
        "PatientSex": rng.choice("MFO"),
    }


def _study(
    rng: random.Random, shape: Shape, kind: str, patient: dict[str, str], index: int
) -> tuple[StudyEntry, dict[str, str]]:
    day = FIRST_STUDY_DATE + timedelta(days=rng.randrange(STUDY_DATE_SPAN_DAYS))
    study = StudyEntry(
        study_instance_uid=_uid(shape, "study", index),
        patient_id=patient["PatientID"],
        patient_name=patient["PatientName"],
        study_date=day.strftime("%Y%m%d"),
        accession_number=f"A{shape.seed:02d}{index:08d}",
    )
    time = f"{rng.randrange(7, 19):02d}{rng.randrange(60):02d}{rng.randrange(60):02d}"
    attributes = {
        **patient,
        "StudyInstanceUID": study.study_instance_uid,
        "StudyDate": study.study_date,
        "StudyTime": time,
        "SeriesDate": study.study_date,
        "SeriesTime": time,
        "AccessionNumber": study.accession_number,
        "StudyID": str(index + 1),
        "StudyDescription": rng.choice(DESCRIPTIONS[kind]),
        "ReferringPhysicianName": f"{rng.choice(FAMILY_NAMES)}^{rng.choice(GIVEN_NAMES)}",
        "InstitutionName": rng.choice(INSTITUTIONS),
    }
    return study, attributes


def _series_kinds(rng: random.Random, kind: str, count: int) -> list[str]:
    if kind == "MR":
        kinds = ["MR" if n % 2 == 0 else "MR-JLS" for n in range(count)]
    else:
        kinds = [kind] * count
    if count > 1 and rng.random() < SECONDARY_CAPTURE_SHARE:
        kinds[-1] = "OT"
    return kinds


def _write_series(
    folder: Path,
    shape: Shape,
    study: StudyEntry,
    attributes: dict[str, str],
    kind: str,
    number: int,
    ds: Dataset,
) -> SeriesEntry:
    series_uid = _uid(shape, "series", study.study_instance_uid, number)
    series = SeriesEntry(series_uid, TEMPLATES[kind].modality)

    # The template is reused: every attribute that differs per study, series
    # or instance is set again before each write.
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = number + 1
    ds.SeriesDescription = f"{series.modality} SERIES {number + 1}"
    ds.Modality = series.modality
    ds.FrameOfReferenceUID = _uid(shape, "for", series_uid)

    for n in range(shape.instances_per_series):
        sop_uid = _uid(shape, "sop", series_uid, n)
        ds.SOPInstanceUID = sop_uid
        ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
        ds.InstanceNumber = n + 1
        relative = f"files/{study.accession_number}/{number}/{n}.dcm"
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(target, enforce_file_format=True)
        series.instances.append(
            InstanceEntry(
                sop_instance_uid=sop_uid,
                sop_class_uid=str(ds.SOPClassUID),
                transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
                path=relative,
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                samples_per_pixel=int(ds.get("SamplesPerPixel", 1)),
                bits_allocated=int(ds.BitsAllocated),
                native=not ds.file_meta.TransferSyntaxUID.is_compressed,
                size=target.stat().st_size,
            )
        )
    return series


def _uid(shape: Shape, *parts: object) -> str:
    # 2.25 UIDs (PS3.5 B.2) derived from the seed: the same shape gives the
    # same UIDs, different seeds never collide.
    return generate_uid(prefix=None, entropy_srcs=[shape.key(), *map(str, parts)])


# The viewer's series: full-size CT_small (128×128), so that the browser
# decodes and draws what a small CT slice costs, not a thumbnail.
VIEWER_TEMPLATE = Template("CT_small.dcm", "CT", 1)
VIEWER_PATIENT_ID = "BVIEWER"
VIEWER_ACCESSION = "AVIEWER"


def viewer_study(root: Path, images: int, seed: int = 1) -> BenchData:
    """One study holding one CT series of `images` instances, for the
    viewer's time to first image. Its patient ID and accession number are
    its own, so it never adds a result to the dataset's searches."""
    shape = Shape(
        patients=1, studies_per_patient=1, series_per_study=1,
        instances_per_series=images, seed=seed,
    )  # fmt: skip
    folder = root / f"viewer-{shape.key()}"
    rng = random.Random(f"viewer-{seed}")
    patient = {**_patient(rng, 0), "PatientID": VIEWER_PATIENT_ID}
    study, attributes = _study(rng, shape, "CT", patient, 0)
    # New UIDs of its own: the shape key alone could match a dataset shape.
    study.study_instance_uid = _uid(shape, "viewer-study")
    study.patient_id = VIEWER_PATIENT_ID
    study.accession_number = VIEWER_ACCESSION
    attributes.update(
        StudyInstanceUID=study.study_instance_uid,
        AccessionNumber=VIEWER_ACCESSION,
        StudyDescription="CT VIEWER SERIES",
    )
    template = _load_template(VIEWER_TEMPLATE)
    study.series.append(
        _write_series(folder, shape, study, attributes, "CT", 0, template)
    )
    return BenchData(folder, shape, [study])
