"""Decode pixel data into float32 slices; decoding is forced here, inside the loader.

pydicom reads a truncated or corrupt file without complaint and only fails when
``pixel_array`` is accessed; this module accesses it at once and turns any failure
into :class:`~medcam.errors.PixelDataError`. Size limits are checked on the headers
before any pixel data is read (:func:`check_limits`).

Values: for MONOCHROME1/MONOCHROME2 images the Modality LUT is applied (Rescale
Slope/Intercept, per frame from the Pixel Value Transformation functional group
for enhanced multi-frame instances, or a Modality LUT Sequence), giving float32 in
the modality's units (HU for CT). MONOCHROME1 values are kept as stored (only the
display inverts them); the Series records the photometric interpretation.

Colour (RGB, YBR_*, PALETTE COLOR) is converted to grey luminance
``0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601) after pydicom's conversion to RGB,
and recorded as MONOCHROME2. Any other photometric interpretation raises
:class:`~medcam.errors.PixelDataError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut
from pydicom.pixels.utils import get_expected_length, pixel_array
from pydicom.uid import UID, RLELossless

from medcam.errors import LimitExceededError, PixelDataError, UnsupportedTransferSyntaxError
from medcam.series._frames import group_item, is_enhanced, number_of_frames
from medcam.series._pydicom import PYDICOM_ERRORS, BadValueError, get_floats, get_int
from medcam.series.files import open_dataset

__all__ = [
    "LUMA_WEIGHTS",
    "MAX_DECODED_BYTES",
    "MAX_VOXELS",
    "check_decodable",
    "check_limits",
    "check_transfer_syntax",
    "decode_into",
    "default_window",
    "output_photometric_interpretation",
    "rescale",
]

#: Largest number of voxels (slices x rows x columns) a series may declare.
MAX_VOXELS = 2**29
#: Largest number of decoded pixel-data bytes a series may declare.
MAX_DECODED_BYTES = 2 * 1024**3
#: BT.601 luma weights used to turn colour into grey.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

_MONOCHROME = ("MONOCHROME1", "MONOCHROME2")
_COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420",
           "YBR_PARTIAL_422", "PALETTE COLOR")
#: Decoder plugin forced per transfer syntax. pylibjpeg-rle (Rust) aborts with a
#: BaseException-derived panic on corrupt input; pydicom's own RLE decoder raises.
_DECODING_PLUGIN = {RLELossless: "pydicom"}
_NATIVE = frozenset(UID(u) for u in (
    "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2"))


def check_limits(datasets: list[Dataset]) -> None:
    """Refuse series that declare more voxels or decoded bytes than the limits.

    Args:
        datasets: the headers of the series' instances.

    Raises:
        LimitExceededError: above :data:`MAX_VOXELS` or :data:`MAX_DECODED_BYTES`.
        PixelDataError: Rows, Columns or Number of Frames are not positive integers.

    """
    voxels = decoded = 0
    for ds in datasets:
        rows, columns = get_int(ds, "Rows"), get_int(ds, "Columns")
        if rows is None or columns is None or rows < 1 or columns < 1:
            raise PixelDataError("Rows and Columns must be positive integers")
        n = (number_of_frames(ds) or 1) * rows * columns
        samples = max(1, get_int(ds, "SamplesPerPixel") or 1)
        bits = max(1, get_int(ds, "BitsAllocated") or 16)
        voxels += n
        decoded += n * samples * math.ceil(bits / 8)
    if voxels > MAX_VOXELS:
        raise LimitExceededError(
            f"the series declares {voxels} voxels, more than the limit of {MAX_VOXELS}")
    if decoded > MAX_DECODED_BYTES:
        raise LimitExceededError(f"the series declares {decoded} bytes of decoded pixel data, "
                                 f"more than the limit of {MAX_DECODED_BYTES}")


def check_transfer_syntax(ds: Dataset) -> None:
    """Check that an installed decoder handles the instance's Transfer Syntax.

    Args:
        ds: the instance's header (with file meta information).

    Raises:
        UnsupportedTransferSyntaxError: no Transfer Syntax UID, or no decoder for it.

    """
    uid = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if not uid:
        raise UnsupportedTransferSyntaxError("the file has no Transfer Syntax UID")
    uid = UID(str(uid))
    try:
        decoder = get_decoder(uid)
    except PYDICOM_ERRORS as exc:
        raise UnsupportedTransferSyntaxError(
            f"no pixel data decoder exists for transfer syntax {uid} ({uid.name})") from exc
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies)
        raise UnsupportedTransferSyntaxError(
            f"no installed decoder handles transfer syntax {uid} ({uid.name}): {missing}")


def output_photometric_interpretation(ds: Dataset) -> str:
    """Return the photometric interpretation of the decoded slices (colour: MONOCHROME2).

    Args:
        ds: the instance's header.

    Returns:
        ``"MONOCHROME1"`` or ``"MONOCHROME2"``.

    Raises:
        PixelDataError: the photometric interpretation is not supported.

    """
    value = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    if value in _MONOCHROME:
        return value
    if value in _COLOUR:
        return "MONOCHROME2"
    raise PixelDataError(f"photometric interpretation {value or '(missing)'!r} is not supported")


def _strict_float(ds: Dataset, keyword: str) -> float | None:
    try:
        values = get_floats(ds, keyword)
    except BadValueError as exc:
        raise PixelDataError(f"{keyword} is malformed") from exc
    if not values:
        return None
    if not math.isfinite(values[0]):
        raise PixelDataError(f"{keyword} is not finite")
    return values[0]


def rescale(ds: Dataset, frame_index: int) -> tuple[float, float]:
    """Return (Rescale Slope, Rescale Intercept) of one frame ((1, 0) when absent).

    Args:
        ds: the instance's header.
        frame_index: 0-based frame index (enhanced multi-frame: per-frame groups first).

    Raises:
        PixelDataError: a value is malformed or not finite.

    """
    sources = [group_item(ds, frame_index, "PixelValueTransformationSequence")] \
        if is_enhanced(ds) else []
    for source in [*sources, ds]:
        if source is None:
            continue
        slope = _strict_float(source, "RescaleSlope")
        intercept = _strict_float(source, "RescaleIntercept")
        if slope is not None or intercept is not None:
            return (1.0 if slope is None else slope, 0.0 if intercept is None else intercept)
    return 1.0, 0.0


def default_window(ds: Dataset, frame_number: int | None) -> tuple[float, float] | None:
    """Return the first Window Center/Width of a frame, if valid (width > 0, finite).

    Args:
        ds: the instance's header.
        frame_number: 1-based frame number for multi-frame instances, else ``None``.

    Returns:
        ``(center, width)`` or ``None``.

    """
    sources: list[Dataset | None] = [ds]
    if is_enhanced(ds):
        sources.insert(0, group_item(ds, (frame_number or 1) - 1, "FrameVOILUTSequence"))
    for source in sources:
        if source is None:
            continue
        try:
            center = get_floats(source, "WindowCenter")
            width = get_floats(source, "WindowWidth")
        except BadValueError:
            continue
        if center and width and math.isfinite(center[0]) and math.isfinite(width[0]) \
                and width[0] > 0:
            return center[0], width[0]
    return None


def _decode(path: Path, header: Dataset) -> tuple[Dataset, NDArray[np.generic]]:
    check_transfer_syntax(header)
    ds = open_dataset(path, stop_before_pixels=False)
    if "PixelData" not in ds:
        raise PixelDataError("the instance has no Pixel Data element")
    try:
        uid = UID(ds.file_meta.TransferSyntaxUID)
        if uid in _NATIVE:
            expected, actual = get_expected_length(ds), len(ds.PixelData)
            if actual < expected:
                raise PixelDataError(
                    f"pixel data is truncated: {actual} of {expected} bytes present")
        plugin = _DECODING_PLUGIN.get(uid, "")
        return ds, np.asarray(pixel_array(ds, decoding_plugin=plugin))
    except PYDICOM_ERRORS as exc:
        raise PixelDataError(
            f"pixel data could not be decoded ({type(exc).__name__} in the decoder)") from exc


def check_decodable(path: Path, header: Dataset) -> None:
    """Read and decode one instance's pixel data completely, keeping nothing.

    Raises:
        UnsupportedTransferSyntaxError: no installed decoder handles the pixel data.
        PixelDataError: pixel data missing, truncated or undecodable.
        NotDicomError: the file cannot be read again.

    """
    _decode(path, header)


def _grey(ds: Dataset, arr: NDArray[np.generic]) -> NDArray[np.float64]:
    value = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if value == "PALETTE COLOR":
        try:
            arr = apply_color_lut(arr, ds)
        except PYDICOM_ERRORS as exc:
            raise PixelDataError("the palette colour lookup table could not be applied") from exc
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise PixelDataError("colour pixel data does not have three samples per pixel")
    grey: NDArray[np.float64] = np.asarray(arr, dtype=np.float64) @ np.asarray(LUMA_WEIGHTS)
    return grey


def decode_into(path: Path, header: Dataset, slots: Mapping[int, int],
                out: NDArray[np.float32]) -> None:
    """Decode one instance and write its frames, as float32 values, into ``out``.

    Args:
        path: the instance's file.
        header: its header, as scanned.
        slots: for each 0-based frame index of the instance, the slice index in ``out``.
        out: the (slices, rows, columns) output array.

    Raises:
        UnsupportedTransferSyntaxError: no installed decoder handles the pixel data.
        PixelDataError: pixel data missing, truncated, undecodable or inconsistent.
        NotDicomError: the file cannot be read again.

    """
    monochrome = output_photometric_interpretation(header) == str(
        header.get("PhotometricInterpretation", "")).strip().upper()
    ds, arr = _decode(path, header)
    n = number_of_frames(ds) or 1
    rows, columns = out.shape[1:]
    samples = get_int(ds, "SamplesPerPixel") or 1
    shape = (n, rows, columns) if samples == 1 else (n, rows, columns, samples)
    try:
        frames = arr.reshape(shape)
        if max(slots) >= n:
            raise ValueError("fewer frames than the header declared")
    except ValueError as exc:
        raise PixelDataError("decoded pixel data does not match Rows, Columns and "
                             "Number of Frames") from exc
    lut = bool(ds.get("ModalityLUTSequence")) and monochrome
    for frame_index, slice_index in slots.items():
        frame = frames[frame_index]
        if not monochrome:
            out[slice_index] = _grey(ds, frame)
        elif lut:
            try:
                out[slice_index] = apply_modality_lut(frame, ds)
            except PYDICOM_ERRORS as exc:
                raise PixelDataError("the Modality LUT Sequence could not be applied") from exc
        else:
            slope, intercept = rescale(ds, frame_index)
            out[slice_index] = frame.astype(np.float64) * slope + intercept
    if not np.isfinite(out[list(slots.values())]).all():
        raise PixelDataError("pixel values are not finite after the modality LUT")
