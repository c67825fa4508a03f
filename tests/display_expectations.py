"""What pydicom says a sample should look like on screen, for browser tests.

The viewer's canvas is compared with pydicom's decoding of the same file,
both reduced to a coarse grid of cell means, so resampling, smoothing and
the odd screen pixel of misalignment do not matter but a wrong colour
space, a black or inverted image, or a missing LUT does.
"""

import numpy
import pydicom
from PIL import Image
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

GRID = 12


def drawn_region(shot: Image.Image, rows: int, columns: int) -> Image.Image:
    """The part of a viewport screenshot the image fills, fitted and centred."""
    width, height = shot.size
    scale = min(width / columns, height / rows)
    left = (width - columns * scale) / 2
    top = (height - rows * scale) / 2
    return shot.crop(
        (
            round(left),
            round(top),
            round(left + columns * scale),
            round(top + rows * scale),
        )
    )


def cells(image: Image.Image) -> numpy.ndarray:
    """Mean colour of each cell of a GRID x GRID grid, as floats 0..255."""
    return numpy.asarray(
        image.convert("RGB").resize((GRID, GRID), Image.Resampling.BOX), dtype=float
    )


def value_cells(values: numpy.ndarray) -> numpy.ndarray:
    """Mean of each grid cell of a 2-D array of pixel values."""
    image = Image.fromarray(values.astype(numpy.float32), mode="F")
    return numpy.asarray(image.resize((GRID, GRID), Image.Resampling.BOX))


def difference(shot: Image.Image, expected: numpy.ndarray) -> float:
    """Mean absolute difference (0..255) between the drawn and expected image."""
    rows, columns = expected.shape[:2]
    drawn = cells(drawn_region(shot, rows, columns))
    wanted = cells(Image.fromarray(expected.astype(numpy.uint8)))
    return float(numpy.abs(drawn - wanted).mean())


def expected_display(ds: pydicom.Dataset) -> numpy.ndarray:
    """First frame as 8-bit RGB the way a conformant viewer first shows it.

    Colour images as RGB (pydicom converts YBR to RGB; palettes through
    their tables). Greyscale through the Modality LUT or rescale, then the
    VOI LUT Sequence (preferred) or the first window, or else the pixel
    range; MONOCHROME1 inverted.
    """
    frames = ds.pixel_array
    pixels = frames[0] if int(ds.get("NumberOfFrames") or 1) > 1 else frames
    interpretation = ds.PhotometricInterpretation
    if interpretation == "PALETTE COLOR":
        rgb = apply_color_lut(pixels, ds)
        return rgb >> 8 if rgb.dtype == numpy.uint16 else rgb
    if pixels.ndim == 3:
        return pixels
    grey = grey_display(ds, pixels)
    return numpy.repeat(grey[..., None], 3, axis=2)


def grey_display(ds: pydicom.Dataset, pixels: numpy.ndarray) -> numpy.ndarray:
    values = apply_modality_lut(pixels, ds)
    if "VOILUTSequence" in ds:
        values = apply_voi_lut(values, ds, prefer_lut=True)
        top = 2 ** int(max(ds.VOILUTSequence[0].LUTData)).bit_length() - 1
        lower, upper = 0.0, float(top)
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        center = float(numpy.ravel(ds.WindowCenter)[0])
        width = float(numpy.ravel(ds.WindowWidth)[0])
        lower, upper = center - width / 2, center + width / 2
    else:
        lower, upper = float(values.min()), float(values.max())
    grey = (
        numpy.clip((values.astype(float) - lower) / max(upper - lower, 1e-9), 0, 1)
        * 255
    )
    if ds.PhotometricInterpretation == "MONOCHROME1":
        grey = 255 - grey
    return grey
