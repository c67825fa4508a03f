// Bulk data the image loader needs as values but DICOMweb metadata carries
// by reference. Palette colour lookup tables (PS3.3 C.7.6.3.1.6) are longer
// than pacsweb inlines, so they arrive as BulkDataURIs; the loader reads
// them only from the metadata, so they are fetched and put in place first.

import { type Attribute, type Dataset, first } from "./dicomjson";

// Descriptor and data tags of the red, green and blue tables.
const PALETTES: [string, string][] = [
  ["00281101", "00281201"],
  ["00281102", "00281202"],
  ["00281103", "00281203"],
];

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

async function attributeBytes(attribute: Attribute): Promise<Uint8Array | null> {
  if (attribute.InlineBinary) {
    return Uint8Array.from(atob(attribute.InlineBinary), (c) => c.charCodeAt(0));
  }
  if (!attribute.BulkDataURI) return null;
  const response = await fetch(attribute.BulkDataURI, {
    headers: { Accept: 'multipart/related; type="application/octet-stream"' },
    credentials: "same-origin",
  });
  if (!response.ok) throw new Error(`palette bulk data: HTTP ${response.status}`);
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
  if (bits <= 8) return bytes;
  // Native little endian, as WADO-RS bulk data is sent uncompressed.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Uint16Array.from({ length: bytes.byteLength >> 1 }, (_, i) => view.getUint16(i * 2, true));
}
