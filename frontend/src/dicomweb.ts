// The viewer's only data source: pacsweb's DICOMweb over HTTP, with the
// page's session cookie. QIDO-RS for the series of the study (PS3.18 10.6),
// WADO-RS series metadata for the instances (10.4), and frames fetched by
// the image loader with transfer-syntax=* so the server sends what it holds.

import { wadors } from "@cornerstonejs/dicom-image-loader";
import { type InstanceLuts, resolveLuts, resolvePalettes } from "./bulkdata";
import { type Dataset, Tag, number, text } from "./dicomjson";
import { setPixelFixups } from "./pixels";

export class DicomWebError extends Error {}

export interface SeriesInfo {
  uid: string;
  number: string;
  modality: string;
  description: string;
  instances: number;
  thumbnailUrl: string;
}

export interface LoadedSeries {
  uid: string;
  imageIds: string[];
  // The instance metadata of each image id, for the metadata panel.
  metadataById: Map<string, Dataset>;
  multiFrame: boolean;
}

export class DicomWeb {
  constructor(
    readonly root: string,
    readonly studyUid: string,
  ) {}

  private studyUrl(): string {
    return `${this.root}/studies/${encodeURIComponent(this.studyUid)}`;
  }

  private async json(url: string): Promise<Dataset[]> {
    const response = await fetch(url, { headers: { Accept: "application/dicom+json" }, credentials: "same-origin" });
    if (response.status === 204) {
      return [];
    }
    if (!response.ok) {
      let reason = response.statusText;
      try {
        reason = (await response.json()).reason ?? reason;
      } catch {
        // not a pacsweb error body; keep the status text
      }
      throw new DicomWebError(`${url.replace(this.root, "")}: HTTP ${response.status} ${reason}`);
    }
    return (await response.json()) as Dataset[];
  }

  async series(): Promise<SeriesInfo[]> {
    const found = await this.json(`${this.studyUrl()}/series?includefield=00201209`);
    const series = found.map((ds) => {
      const uid = text(ds, Tag.SeriesInstanceUID);
      return {
        uid,
        number: text(ds, Tag.SeriesNumber),
        modality: text(ds, Tag.Modality),
        description: text(ds, Tag.SeriesDescription),
        instances: number(ds, Tag.NumberOfSeriesRelatedInstances),
        thumbnailUrl: `${this.studyUrl()}/series/${encodeURIComponent(uid)}/thumbnail`,
      };
    });
    return series.sort((a, b) => Number(a.number || 1e9) - Number(b.number || 1e9));
  }

  /** Fetch a series' metadata and register one image id per frame. */
  async loadSeries(seriesUid: string): Promise<LoadedSeries> {
    const seriesUrl = `${this.studyUrl()}/series/${encodeURIComponent(seriesUid)}`;
    const instances = await this.json(`${seriesUrl}/metadata`);
    // Instances without Rows (reports, documents) have no image to show.
    const images = instances.filter((ds) => ds[Tag.Rows] !== undefined);
    images.sort((a, b) => number(a, Tag.InstanceNumber) - number(b, Tag.InstanceNumber));
    await Promise.all(images.map(resolvePalettes));
    const luts = await Promise.all(images.map(lutsOrNone));

    const imageIds: string[] = [];
    const metadataById = new Map<string, Dataset>();
    let multiFrame = false;
    for (const [index, instance] of images.entries()) {
      const fixups = { photometricInterpretation: text(instance, Tag.PhotometricInterpretation), luts: luts[index] };
      const sop = text(instance, Tag.SOPInstanceUID);
      const frames = Math.max(1, number(instance, Tag.NumberOfFrames, 1));
      multiFrame ||= frames > 1;
      for (let frame = 1; frame <= frames; frame += 1) {
        const imageId = `wadors:${seriesUrl}/instances/${encodeURIComponent(sop)}/frames/${frame}`;
        // The loader reads pixel module, LUTs and geometry from here.
        wadors.metaDataManager.add(imageId, instance as never);
        setPixelFixups(imageId, fixups);
        imageIds.push(imageId);
        metadataById.set(imageId, instance);
      }
    }
    if (!imageIds.length) {
      throw new DicomWebError("this series has no images to show");
    }
    return { uid: seriesUid, imageIds, metadataById, multiFrame };
  }
}

// A LUT that cannot be read (a failed bulk data fetch, a short table) costs
// the image its LUT, not the series its display: the window is used instead.
async function lutsOrNone(instance: Dataset): Promise<InstanceLuts> {
  try {
    return await resolveLuts(instance);
  } catch (error) {
    console.warn(`LUT of ${text(instance, Tag.SOPInstanceUID)} not applied: ${(error as Error).message}`);
    return {};
  }
}
