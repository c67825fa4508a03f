"""Rendered images (PS3.18 8.3.5): a frame made displayable as JPEG/PNG/GIF.

Grayscale follows the pipeline of PS3.4 N.2: stored values, then the
Modality LUT or Rescale Slope/Intercept, then the VOI stage (the `window`
parameter if given, else the file's VOI LUT, else its first window, else
the full range of the frame), then MONOCHROME1 inversion, to 8 bits.
Colour: palette lookup, YCbCr to RGB, RGB scaled to 8 bits; the window
parameter only applies to grayscale. The viewport crops, flips and scales
last, preserving the aspect ratio of the region.
"""

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, convert_color_space

from apps.dicomweb.frames import PixelSource
from apps.dicomweb.transcode import decode_frame, read_pixel_header

JPEG = "image/jpeg"
PNG = "image/png"
GIF = "image/gif"
MEDIA_TYPES = (JPEG, PNG, GIF)
PIL_FORMATS = {JPEG: "JPEG", PNG: "PNG", GIF: "GIF"}
DEFAULT_QUALITY = 90
# PS3.18 8.3.5.1.2 names the functions in lower case; files use
# VOI LUT Function (0028,1056) values.
WINDOW_FUNCTIONS = {
    "linear": "LINEAR",
    "linear-exact": "LINEAR_EXACT",
    "linear_exact": "LINEAR_EXACT",
    "sigmoid": "SIGMOID",
}
YBR_FULL_TYPES = frozenset({"YBR_FULL", "YBR_FULL_422"})


class RenderParameterError(ValueError):
    """A rendering query parameter is malformed; the message names it."""


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    function: str = "LINEAR"


@dataclass(frozen=True)
class Viewport:
    width: int
    height: int
    sx: int = 0
    sy: int = 0
    sw: int | None = None
    sh: int | None = None


@dataclass(frozen=True)
class RenderOptions:
    media_type: str = JPEG
    window: Window | None = None
    viewport: Viewport | None = None
    quality: int = DEFAULT_QUALITY


def parse_options(
    query: Mapping[str, str],
    media_type: str,
    default_viewport: Viewport | None = None,
) -> RenderOptions:
    """The rendering parameters of PS3.18 8.3.5.1; others are ignored."""
    window = _parse_window(query["window"]) if query.get("window") else None
    viewport = default_viewport
    if query.get("viewport"):
        viewport = _parse_viewport(query["viewport"])
    quality = DEFAULT_QUALITY
    if query.get("quality"):
        quality = _parse_int("quality", query["quality"])
        if not 1 <= quality <= 100:
            raise RenderParameterError("quality must be an integer from 1 to 100")
    return RenderOptions(media_type, window, viewport, quality)


def _parse_window(text: str) -> Window:
    parts = [part.strip() for part in text.split(",")]
    if len(parts) not in (2, 3):
        raise RenderParameterError("window must be center,width[,function]")
    try:
        center, width = float(parts[0]), float(parts[1])
    except ValueError:
        raise RenderParameterError("window center and width must be numbers") from None
    if not (math.isfinite(center) and math.isfinite(width)):
        raise RenderParameterError("window center and width must be finite numbers")
    function = WINDOW_FUNCTIONS.get(parts[2].lower() if len(parts) == 3 else "linear")
    if function is None:
        raise RenderParameterError(
            "window function must be linear, linear-exact or sigmoid"
        )
    minimum = 1 if function == "LINEAR" else 0
    if width < minimum or (function != "LINEAR" and width == 0):
        raise RenderParameterError(
            f"window width must be {'at least 1' if minimum else 'above 0'}"
        )
    return Window(center, width, function)


def _parse_viewport(text: str) -> Viewport:
    parts = text.split(",")
    if len(parts) not in (2, 6):
        raise RenderParameterError("viewport must be vw,vh or vw,vh,sx,sy,sw,sh")
    width = _parse_int("viewport width", parts[0])
    height = _parse_int("viewport height", parts[1])
    if not (0 < width <= 8192 and 0 < height <= 8192):
        raise RenderParameterError("viewport width and height must be 1 to 8192")
    if len(parts) == 2:
        return Viewport(width, height)
    sx = _parse_int("viewport sx", parts[2])
    sy = _parse_int("viewport sy", parts[3])
    sw = _parse_int("viewport sw", parts[4])
    sh = _parse_int("viewport sh", parts[5])
    if sx < 0 or sy < 0 or sw == 0 or sh == 0:
        raise RenderParameterError(
            "viewport sx and sy must be non-negative and sw, sh non-zero"
        )
    return Viewport(width, height, sx, sy, sw, sh)


def _parse_int(name: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise RenderParameterError(f"{name} must be an integer") from None


def render_frame(
    handle: BinaryIO, source: PixelSource, index: int, options: RenderOptions
) -> bytes:
    """Render frame `index` (0-based) of a stored instance."""
    header = read_pixel_header(handle)
    array = decode_frame(handle, source, header, index, raw=True)
    return render(frame_header(header, index), array, options)


def frame_header(header: Dataset, index: int) -> Dataset:
    """The image attributes that apply to one frame.

    Enhanced multi-frame objects keep rescale and window in functional
    groups (PS3.3 C.7.6.16): per frame, else shared. They override the
    top-level values, which such objects usually lack.
    """
    ds = Dataset()
    implicit, little = header.original_encoding
    if implicit is not None and little is not None:
        ds.set_original_encoding(implicit, little)
    for element in header.group_dataset(0x0028):
        ds.add(element)
    for groups in (
        header.get("SharedFunctionalGroupsSequence"),
        header.get("PerFrameFunctionalGroupsSequence"),
    ):
        if not groups:
            continue
        item = groups[min(index, len(groups) - 1)]
        for keyword in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
            if item.get(keyword):
                for element in item.get(keyword)[0]:
                    ds.add(element)
    return ds


def render(header: Dataset, array: np.ndarray, options: RenderOptions) -> bytes:
    """Encode one decoded frame (`raw`: YCbCr as stored) as an image."""
    pixels = display_pixels(header, array, options.window)
    if options.viewport is not None:
        pixels = apply_viewport(pixels, options.viewport)
    return encode(pixels, options)


def display_pixels(
    header: Dataset, array: np.ndarray, window: Window | None = None
) -> np.ndarray:
    """8-bit display values: (rows, columns) grayscale or (rows, columns, 3)."""
    photometric = str(header.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "PALETTE COLOR":
        return _to_8_bits(
            apply_color_lut(array, header), 16 if _lut_is_16_bit(header) else 8
        )
    if array.ndim == 3:
        if photometric in YBR_FULL_TYPES:
            array = convert_color_space(array, "YBR_FULL", "RGB")
        return _to_8_bits(array, int(header.get("BitsStored", 8)))
    return _grayscale(header, array, window, photometric)


def _grayscale(
    header: Dataset, array: np.ndarray, window: Window | None, photometric: str
) -> np.ndarray:
    values = apply_modality_lut(array, header).astype(np.float64)
    if window is not None:
        scaled = apply_window(values, window)
    elif header.get("VOILUTSequence"):
        scaled = _apply_voi_lut(values, header.VOILUTSequence[0], header)
    elif (file_window := _file_window(header)) is not None:
        scaled = apply_window(values, file_window)
    else:
        scaled = _full_range(values)
    if photometric == "MONOCHROME1":
        # PS3.3 C.7.6.3.1.2: the minimum value is white.
        scaled = 1.0 - scaled
    return np.rint(scaled * 255).astype(np.uint8)


def apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """PS3.3 C.11.2.1.2/C.11.2.1.3: values to 0..1."""
    c, w = window.center, window.width
    if window.function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - c) / w))
    if window.function == "LINEAR_EXACT":
        return np.clip((values - c) / w + 0.5, 0.0, 1.0)
    if w <= 1:
        return (values > c - 0.5).astype(np.float64)
    return np.clip((values - (c - 0.5)) / (w - 1) + 0.5, 0.0, 1.0)


def _file_window(header: Dataset) -> Window | None:
    center = _first(header.get("WindowCenter"))
    width = _first(header.get("WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    function = str(header.get("VOILUTFunction", "") or "LINEAR").upper()
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        function = "LINEAR"
    if function == "LINEAR" and width < 1:
        width = 1.0
    return Window(center, width, function)


def _first(value: object) -> float | None:
    # Window Center/Width may hold several windows; the first is the default.
    if isinstance(value, Sequence) and not isinstance(value, str):
        value = value[0] if len(value) else None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _apply_voi_lut(values: np.ndarray, item: Dataset, header: Dataset) -> np.ndarray:
    entries, first_mapped, bits = (int(v) for v in item.LUTDescriptor)
    entries = entries or 65536
    data = item.LUTData
    if isinstance(data, bytes):
        # OW LUT Data keeps the byte order of the file it came from.
        little = header.original_encoding[1] is not False
        data = np.frombuffer(data, dtype="<u2" if little else ">u2")
    lut = np.asarray(data, dtype=np.float64)[:entries]
    index = np.clip(np.floor(values) - first_mapped, 0, len(lut) - 1).astype(np.int64)
    return np.clip(lut[index] / float(2**bits - 1), 0.0, 1.0)


def _full_range(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def _lut_is_16_bit(header: Dataset) -> bool:
    descriptor = header.get("RedPaletteColorLookupTableDescriptor")
    return bool(descriptor) and int(descriptor[2]) == 16


def _to_8_bits(array: np.ndarray, bits: int) -> np.ndarray:
    if array.dtype == np.uint8 or bits <= 8:
        return array.astype(np.uint8)
    return np.rint(array.astype(np.float64) * (255.0 / (2**bits - 1))).astype(np.uint8)


def apply_viewport(pixels: np.ndarray, viewport: Viewport) -> np.ndarray:
    """Crop to (sx, sy, |sw|, |sh|), flip for negative sw/sh, fit in (vw, vh)."""
    rows, columns = pixels.shape[:2]
    sw = viewport.sw if viewport.sw is not None else max(columns - viewport.sx, 0)
    sh = viewport.sh if viewport.sh is not None else max(rows - viewport.sy, 0)
    x0, y0 = viewport.sx, viewport.sy
    region = pixels[y0 : y0 + abs(sh), x0 : x0 + abs(sw)]
    if region.size == 0:
        raise RenderParameterError("viewport source region lies outside the image")
    if sw < 0:
        region = region[:, ::-1]
    if sh < 0:
        region = region[::-1, :]
    height, width = region.shape[:2]
    scale = min(viewport.width / width, viewport.height / height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return np.ascontiguousarray(region)
    image = Image.fromarray(np.ascontiguousarray(region))
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS))


def encode(pixels: np.ndarray, options: RenderOptions) -> bytes:
    image = Image.fromarray(pixels, mode=None)
    buffer = io.BytesIO()
    if options.media_type == JPEG:
        image.save(buffer, "JPEG", quality=options.quality)
    else:
        image.save(buffer, PIL_FORMATS[options.media_type])
    return buffer.getvalue()
