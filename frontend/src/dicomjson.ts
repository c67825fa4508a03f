// Reading values out of DICOM JSON (PS3.18 F.2) as returned by QIDO-RS and
// WADO-RS metadata.

export interface Attribute {
  vr: string;
  Value?: unknown[];
  BulkDataURI?: string;
  InlineBinary?: string;
}

export type Dataset = Record<string, Attribute>;

export function first(ds: Dataset, tag: string): unknown {
  const value = ds[tag]?.Value;
  return value && value.length ? value[0] : undefined;
}

export function text(ds: Dataset, tag: string): string {
  const value = first(ds, tag);
  if (value === undefined || value === null) {
    return "";
  }
  if (typeof value === "object" && "Alphabetic" in (value as object)) {
    return personName(String((value as { Alphabetic: string }).Alphabetic));
  }
  return String(value);
}

export function number(ds: Dataset, tag: string, fallback = 0): number {
  const value = Number(first(ds, tag));
  return Number.isFinite(value) ? value : fallback;
}

/** Every value of an attribute as display text ("\\" between values). */
export function display(attribute: Attribute): string {
  if (attribute.BulkDataURI) {
    return "(bulk data)";
  }
  if (attribute.InlineBinary) {
    return `(${Math.floor((attribute.InlineBinary.length * 3) / 4)} bytes)`;
  }
  if (attribute.vr === "SQ") {
    return `(${attribute.Value?.length ?? 0} item${attribute.Value?.length === 1 ? "" : "s"})`;
  }
  return (attribute.Value ?? [])
    .map((v) => (v && typeof v === "object" && "Alphabetic" in v ? personName(String((v as { Alphabetic: string }).Alphabetic)) : String(v)))
    .join("\\");
}

function personName(value: string): string {
  const [family = "", given = "", middle = ""] = value.split("^");
  const rest = [given, middle].filter(Boolean).join(" ");
  return family && rest ? `${family}, ${rest}` : family || rest;
}

export const Tag = {
  SOPInstanceUID: "00080018",
  SOPClassUID: "00080016",
  StudyDate: "00080020",
  Modality: "00080060",
  SeriesDescription: "0008103E",
  PatientName: "00100010",
  PatientID: "00100020",
  SeriesInstanceUID: "0020000E",
  SeriesNumber: "00200011",
  InstanceNumber: "00200013",
  NumberOfFrames: "00280008",
  Rows: "00280010",
  Columns: "00280011",
  PhotometricInterpretation: "00280004",
  NumberOfSeriesRelatedInstances: "00201209",
  TransferSyntaxUID: "00020010",
} as const;

// The attributes the metadata panel shows first, by name.
export const KEY_ATTRIBUTES: [string, string][] = [
  ["Patient name", "00100010"],
  ["Patient ID", "00100020"],
  ["Birth date", "00100030"],
  ["Sex", "00100040"],
  ["Study date", "00080020"],
  ["Study description", "00081030"],
  ["Accession number", "00080050"],
  ["Modality", "00080060"],
  ["Series number", "00200011"],
  ["Series description", "0008103E"],
  ["Instance number", "00200013"],
  ["Frames", "00280008"],
  ["Rows", "00280010"],
  ["Columns", "00280011"],
  ["Pixel spacing", "00280030"],
  ["Slice thickness", "00180050"],
  ["Slice location", "00201041"],
  ["Window center", "00281050"],
  ["Window width", "00281051"],
  ["Rescale intercept", "00281052"],
  ["Rescale slope", "00281053"],
  ["Photometric interpretation", "00280004"],
  ["Bits stored", "00280101"],
  ["Transfer syntax", "00020010"],
  ["SOP instance UID", "00080018"],
];
