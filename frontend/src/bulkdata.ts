// Bulk data the viewer needs as values but DICOMweb metadata may carry by
// reference (BulkDataURI) or as base64 (InlineBinary): palette colour tables
// (PS3.3 C.7.6.3.1.6) and the LUT Data of the Modality and VOI LUT Sequences
// (C.11.1, C.11.2). A server may send any binary value either way, so both
// are read here, fetching WADO-RS bulk data when needed.

import { type Attribute, type Dataset, first } from "./dicomjson";

// Descriptor and data tags of the red, green and blue tables.
const PALETTES: [string, string][] = [
  ["00281101", "00281201"],
  ["00281102", "00281202"],
  ["00281103", "00281203"],
];
const MODALITY_LUT_SEQUENCE = "00283000";
const VOI_LUT_SEQUENCE = "00283010";
const LUT_DESCRIPTOR = "00283002";
const LUT_DATA = "00283006";
const PIXEL_REPRESENTATION = "00280103";

/** One lookup table: entry i maps input value firstValueMapped + i. */
export interface Lut {
  firstValueMapped: number;
  values: ArrayLike<number>;
}

export interface InstanceLuts {
  modality?: Lut;
  voi?: Lut;
}

export async function resolvePalettes(instance: Dataset): Promise<void> {
  if (first(instance, "00280004") !== "PALETTE COLOR") return;
  await Promise.all(
    PALETTES.map(async ([descriptorTag, dataTag]) => {
      const attribute = instance[dataTag];
      const bits = Number((instance[descriptorTag]?.Value ?? [])[2] ?? 16);
      if (!attribute || attribute.Value) return;
      const bytes = await attributeBytes(attribute);
      if (bytes) attribute.Value = Array.from(lutValues(bytes, bits));
    }),
  );
}

/** The first Modality LUT and VOI LUT of an instance, with their data read. */
export async function resolveLuts(instance: Dataset): Promise<InstanceLuts> {
  const signed = first(instance, PIXEL_REPRESENTATION) === 1;
  const [modality, voi] = await Promise.all([
    sequenceLut(instance[MODALITY_LUT_SEQUENCE], signed),
    sequenceLut(instance[VOI_LUT_SEQUENCE], signed),
  ]);
  return { ...(modality && { modality }), ...(voi && { voi }) };
}

async function sequenceLut(sequence: Attribute | undefined, signed: boolean): Promise<Lut | undefined> {
  const item = sequence?.Value?.[0] as Dataset | undefined;
  const descriptor = item?.[LUT_DESCRIPTOR]?.Value as number[] | undefined;
  const data = item?.[LUT_DATA];
  if (!descriptor || descriptor.length < 3 || !data) return undefined;

  // PS3.3 C.11.1.1.1: 0 entries means 65536; the first value mapped is
  // signed when the pixels are, whatever VR the descriptor was read with.
  const entries = Number(descriptor[0]) || 65536;
  let firstValueMapped = Number(descriptor[1]);
  if (signed && firstValueMapped >= 32768) firstValueMapped -= 65536;
  const bits = Number(descriptor[2]);
  let values: ArrayLike<number>;
  if (data.Value) {
    values = data.Value as number[];
  } else {
    const bytes = await attributeBytes(data);
    if (!bytes) return undefined;
    values = lutValues(bytes, bits);
  }
  if (values.length < entries) {
    throw new Error(`LUT Data has ${values.length} entries, its descriptor says ${entries}`);
  }
  return { firstValueMapped, values: Array.prototype.slice.call(values, 0, entries) as number[] };
}

async function attributeBytes(attribute: Attribute): Promise<Uint8Array | null> {
  if (attribute.InlineBinary) {
    return Uint8Array.from(atob(attribute.InlineBinary), (c) => c.charCodeAt(0));
  }
  if (!attribute.BulkDataURI) return null;
  const response = await fetch(attribute.BulkDataURI, {
    headers: { Accept: 'multipart/related; type="application/octet-stream"' },
    credentials: "same-origin",
  });
  if (!response.ok) throw new Error(`bulk data: HTTP ${response.status}`);
  return firstPart(response.headers.get("Content-Type") ?? "", new Uint8Array(await response.arrayBuffer()));
}

/** The body of the first part of a multipart/related response (PS3.18 8.7.1). */
export function firstPart(contentType: string, body: Uint8Array): Uint8Array {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!contentType.toLowerCase().startsWith("multipart/") || !boundary) return body;
  const text = new TextDecoder("latin1").decode(body);
  const start = text.indexOf("\r\n\r\n", text.indexOf(`--${boundary}`)) + 4;
  const end = text.indexOf(`\r\n--${boundary}`, start);
  return body.subarray(start, end < 0 ? body.length : end);
}

function lutValues(bytes: Uint8Array, bits: number): Uint8Array | Uint16Array {
  // 8-bit entries are stored one per byte (PS3.3 C.11.1.1.1).
  if (bits <= 8) return bytes;
  // Native little endian, as WADO-RS bulk data is sent uncompressed.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Uint16Array.from({ length: bytes.byteLength >> 1 }, (_, i) => view.getUint16(i * 2, true));
}
