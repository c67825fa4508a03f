// What the viewer does to decoded pixels before Cornerstone draws them,
// where Cornerstone 5.14's WADO-RS path alone would draw them wrong:
//
// - Native YBR_FULL_422 (PS3.3 C.7.6.3.1.2) arrives as Y1 Y2 Cb Cr per pair
//   of pixels, two bytes a pixel. The loader's check for "needs colour
//   conversion" (isColorConversionRequired) expects the 4:2:2 frame to be
//   1.5 bytes a pixel (its 4:2:0 and 4:2:2 sizes are swapped), so it hands
//   the frame unconverted to vtk.js as three samples a pixel, which refuses
//   it and the viewport stays black. The frame is converted to RGB here.
// - Modality and VOI LUT Sequences (C.11.1, C.11.2): the loader's WADO-RS
//   metadata provider does not read them, and the GPU renderer applies
//   neither table. Their lookups are applied to the pixel values here.
//
// The loader is wrapped, not patched: every wadors: image goes through
// wadors.loadImage and then through the fix-ups registered for its id.

import { imageLoader, utilities, type Types } from "@cornerstonejs/core";
import { wadors } from "@cornerstonejs/dicom-image-loader";
import type { InstanceLuts, Lut } from "./bulkdata";

export interface PixelFixups {
  photometricInterpretation: string;
  luts: InstanceLuts;
}

const fixupsById = new Map<string, PixelFixups>();

export function setPixelFixups(imageId: string, fixups: PixelFixups): void {
  fixupsById.set(imageId, fixups);
}

export function registerWadorsLoader(): void {
  imageLoader.registerImageLoader("wadors", (imageId: string, options?: Record<string, unknown>) => {
    const loaded = wadors.loadImage(imageId, options ?? {});
    const promise = (loaded.promise as Promise<Types.IImage>).then((image) => {
      const fixups = fixupsById.get(imageId);
      if (fixups) fixImage(image, fixups, Boolean(options?.useRGBA));
      return image;
    });
    return { promise, cancelFn: loaded.cancelFn } as Types.IImageLoadObject;
  });
}

function fixImage(image: Types.IImage, fixups: PixelFixups, useRGBA: boolean): void {
  const { photometricInterpretation, luts } = fixups;
  const pixels = image.getPixelData() as Types.PixelDataTypedArray;

  const subsampled = pixels.length === 2 * image.rows * image.columns;
  if (photometricInterpretation === "YBR_FULL_422" && subsampled && pixels instanceof Uint8Array) {
    replacePixels(image, ybrFull422ToRgb(pixels, useRGBA), useRGBA ? 4 : 3);
    return;
  }
  if (image.color || (!luts.modality && !luts.voi)) return;

  let values: Types.PixelDataTypedArray = pixels;
  if (luts.modality) {
    // The table replaces Rescale Slope and Intercept: its output is the
    // modality value the VOI stage and the window work on. A file with both
    // (not allowed, but seen) was rescaled by the loader: undo that first.
    const scaling = image.preScale?.scaled ? image.preScale.scalingParameters : undefined;
    if (scaling?.rescaleSlope) values = unscale(values, scaling.rescaleSlope, scaling.rescaleIntercept ?? 0);
    values = applyLut(values, luts.modality);
    image.slope = 1;
    image.intercept = 0;
  }
  let window: [number, number] | null = null;
  if (luts.voi) {
    // Preferred over Window Center/Width when both are present, as pydicom
    // does. The output runs 0 .. 2^n - 1, n the bits its entries use; the
    // window is set to that range so the table alone shapes the display.
    values = applyLut(values, luts.voi);
    const top = 2 ** Math.max(1, Math.ceil(Math.log2(maxOf(luts.voi.values) + 1))) - 1;
    window = [0, top];
  }
  replacePixels(image, values, 1);
  const [lower, upper] = window ?? [image.minPixelValue, image.maxPixelValue];
  image.windowWidth = Math.max(1, upper - lower);
  image.windowCenter = lower + (upper - lower) / 2;
}

/** PS3.3 C.11.1.1.1 / C.11.2.1.1: inputs outside the table take its ends. */
export function applyLut(input: ArrayLike<number>, lut: Lut): Uint16Array {
  const { firstValueMapped, values } = lut;
  const last = values.length - 1;
  const output = new Uint16Array(input.length);
  for (let i = 0; i < input.length; i += 1) {
    const index = Math.round(input[i]) - firstValueMapped;
    output[i] = values[index < 0 ? 0 : index > last ? last : index];
  }
  return output;
}

function unscale(values: ArrayLike<number>, slope: number, intercept: number): Float32Array {
  return Float32Array.from(values, (value) => (value - intercept) / slope);
}

/** Y1 Y2 Cb Cr per pixel pair to RGB(A), full-range equations of C.7.6.3.1.2. */
export function ybrFull422ToRgb(ybr: ArrayLike<number>, useRGBA: boolean): Uint8ClampedArray {
  const step = useRGBA ? 4 : 3;
  const rgb = new Uint8ClampedArray((ybr.length / 2) * step);
  let out = 0;
  for (let i = 0; i + 3 < ybr.length; i += 4) {
    const cb = ybr[i + 2] - 128;
    const cr = ybr[i + 3] - 128;
    const red = 1.402 * cr;
    const green = -0.344136 * cb - 0.714136 * cr;
    const blue = 1.772 * cb;
    for (const y of [ybr[i], ybr[i + 1]]) {
      rgb[out] = y + red;
      rgb[out + 1] = y + green;
      rgb[out + 2] = y + blue;
      if (useRGBA) rgb[out + 3] = 255;
      out += step;
    }
  }
  return rgb;
}

function replacePixels(image: Types.IImage, pixels: Types.PixelDataTypedArray, components: number): void {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < pixels.length; i += 1) {
    if (pixels[i] < min) min = pixels[i];
    if (pixels[i] > max) max = pixels[i];
  }
  const frame = image.imageFrame as unknown as Record<string, unknown> | undefined;
  if (frame) {
    frame.pixelData = pixels;
    frame.pixelDataLength = pixels.length;
    frame.smallestPixelValue = min;
    frame.largestPixelValue = max;
  }
  image.getPixelData = () => pixels;
  image.voxelManager = utilities.VoxelManager.createImageVoxelManager({
    scalarData: pixels,
    width: image.columns,
    height: image.rows,
    numberOfComponents: components,
  }) as Types.IImage["voxelManager"];
  image.numberOfComponents = components;
  image.dataType = pixels.constructor.name as Types.IImage["dataType"];
  image.sizeInBytes = pixels.byteLength;
  image.minPixelValue = min;
  image.maxPixelValue = max;
  image.rgba = components === 4;
}

function maxOf(values: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < values.length; i += 1) if (values[i] > max) max = values[i];
  return max;
}
