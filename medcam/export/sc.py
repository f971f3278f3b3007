r"""Secondary Capture export: one burned-in RGB heatmap instance per source slice.

The series is the universal fallback of PEERS_AND_STANDARDS §5.3: it displays in
any PACS. Conventions (checklist §5.4):

* SOP Class Secondary Capture Image Storage; a new series in the source study;
  patient, study and character-set attributes copied element by element from the
  source header, so names keep their exact bytes;
* ImageType ``DERIVED\SECONDARY``, Conversion Type ``WSD``, Burned In Annotation
  ``NO`` (the banner and legend hold no patient data), Modality copied from the
  source (PS3.3 C.8.6.1: "source equipment for the image"), ``OT`` if it has none;
* each instance names its source in Source Image Sequence (with Referenced Frame
  Number for multi-frame sources) and describes model, method, class, probability
  and the per-volume scale in Derivation Description; Derivation Code Sequence
  carries the method's CID 217 "Visual Explanation" concept where one applies;
* each frame is the enlarged slice framed by a banner band above and a legend band
  below (:mod:`medcam.export.render`); the image pixels are never covered;
* Pixel Spacing (SC Image module) is the source's, divided by the enlargement; for
  projection radiographs it comes from Imager Pixel Spacing when the source has no
  Pixel Spacing (:mod:`medcam.export._plane`);
* Image Position/Orientation (Patient), Frame of Reference UID and Slice Location
  are added when the source has patient geometry, so viewers can sync scrolling
  (not in the SC IOD; dciodvfy warnings allow-listed in the tests); the position is
  that of the canvas' first pixel, above the image by the banner's height;
* UIDs derive from source, model, method and class (:mod:`medcam.export.uids`),
  dates from :attr:`HeatmapInfo.created` or the source: identical input gives
  byte-identical files, and a re-send replaces the earlier series;
* files ``IM000001.dcm``... in JPEG-LS Lossless by default (RLE Lossless or
  uncompressed Explicit VR Little Endian on request), published atomically.
"""

from __future__ import annotations

import hashlib
import math
from io import BytesIO
from pathlib import Path
from typing import Literal

import numpy as np
from highdicom.sc import SCImage
from numpy.typing import NDArray
from pydicom import dcmwrite
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEGLSLossless, RLELossless

from medcam import __version__
from medcam.durable import atomic_directory, write_synced
from medcam.errors import ExportError
from medcam.export._dicom import SOURCE_PURPOSE, code_item, copy_context, method_code
from medcam.export._plane import add_geometry
from medcam.export._resultset import SERIES_NUMBER_OFFSETS, check_values, series_number, timestamp
from medcam.export.render import (
    DEFAULT_OPACITY,
    DEFAULT_THRESHOLD,
    layout,
    render_frame,
    upscale_factor,
    volume_window,
)
from medcam.export.types import BANNER, ExportedObject, HeatmapInfo
from medcam.export.uids import derive_uid
from medcam.series.types import Series

__all__ = ["SERIES_NUMBER_OFFSET", "TRANSFER_SYNTAXES", "Compression", "method_code",
           "write_secondary_capture"]

Compression = Literal["rle", "jpeg-ls"]
#: Transfer syntax of each ``compression`` choice (``None``: uncompressed).
TRANSFER_SYNTAXES: dict[Compression | None, str] = {
    "rle": RLELossless, "jpeg-ls": JPEGLSLossless, None: ExplicitVRLittleEndian}

#: Series Number of the export = source Series Number + this offset.
SERIES_NUMBER_OFFSET = SERIES_NUMBER_OFFSETS["sc"]
_MANUFACTURER = "medcam"


def _check_options(opacity: float, threshold: float, compression: Compression | None) -> str:
    """Validate the rendering options; return the transfer syntax UID."""
    if not (math.isfinite(opacity) and 0.0 < opacity <= 1.0):
        raise ExportError("overlay opacity must lie in (0, 1]")
    if not (math.isfinite(threshold) and 0.0 <= threshold < 1.0):
        raise ExportError("display threshold must lie in [0, 1)")
    if compression not in TRANSFER_SYNTAXES:
        raise ExportError(f"compression must be one of {sorted(map(str, TRANSFER_SYNTAXES))}")
    return TRANSFER_SYNTAXES[compression]


def _identity(series: Series, info: HeatmapInfo) -> tuple[str, ...]:
    return (series.series_instance_uid, info.model_name, info.model_version,
            info.model_sha256, info.method, info.target_class)


def _set_dates(ds: Dataset, stamp: tuple[str, str] | None) -> None:
    pairs = (("ContentDate", "ContentTime"), ("InstanceCreationDate", "InstanceCreationTime"),
             ("DateOfSecondaryCapture", "TimeOfSecondaryCapture"), ("SeriesDate", "SeriesTime"))
    for date_kw, time_kw in pairs:
        for kw in (date_kw, time_kw):
            if kw in ds:
                del ds[kw]
        if stamp is not None:
            setattr(ds, date_kw, stamp[0])
            if stamp[1]:
                setattr(ds, time_kw, stamp[1])


def _set_contribution_time(ds: Dataset, stamp: tuple[str, str] | None) -> None:
    """Replace the wall-clock time highdicom records for its own contribution."""
    for item in ds.get("ContributingEquipmentSequence", ()):
        if "ContributionDateTime" in item:
            del item.ContributionDateTime
        if stamp is not None:
            item.ContributionDateTime = stamp[0] + stamp[1]


def _build(series: Series, info: HeatmapInfo, frame: NDArray[np.uint8], k: int,
           factor: int, stamp: tuple[str, str] | None, banner: int = 0,
           transfer_syntax_uid: str = ExplicitVRLittleEndian) -> Dataset:
    """Build the Secondary Capture dataset of slice ``k``."""
    header = series.headers[k]
    source_uid, frame_number = series.sop_instance_uids[k], series.frame_numbers[k]
    ds = SCImage(
        pixel_array=frame, photometric_interpretation="RGB", bits_allocated=8,
        coordinate_system="PATIENT", study_instance_uid=series.study_instance_uid,
        series_instance_uid=derive_uid("sc-series", *_identity(series, info)),
        series_number=series_number(series.headers[0], "sc"),
        sop_instance_uid=derive_uid("sc-instance", *_identity(series, info), source_uid,
                                    str(frame_number or 0)),
        instance_number=k + 1, manufacturer=_MANUFACTURER,
        patient_orientation=("L", "P"),  # replaced by _add_geometry
        transfer_syntax_uid=transfer_syntax_uid,
        series_description=info.series_description,
        manufacturer_model_name=_MANUFACTURER,
        software_versions=f"{_MANUFACTURER} {info.software_version}",
        content_date="19000101", content_time="000000",  # replaced by _set_dates
    )
    ds.file_meta.ImplementationClassUID = UID(derive_uid("medcam-implementation", __version__))
    ds.file_meta.ImplementationVersionName = f"MEDCAM_{__version__}"[:16]
    copy_context(ds, header)
    ds.Modality = series.modality or "OT"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "NO"
    ds.ImageComments = BANNER
    ds.DerivationDescription = info.derivation_description
    item = Dataset()
    item.ReferencedSOPClassUID = header.get("SOPClassUID") or series.sop_class_uid
    item.ReferencedSOPInstanceUID = source_uid
    if frame_number is not None:
        item.ReferencedFrameNumber = frame_number
    item.PurposeOfReferenceCodeSequence = [code_item(SOURCE_PURPOSE)]
    ds.SourceImageSequence = [item]
    laterality = header.get("Laterality") or header.get("ImageLaterality")
    # Type 2C: empty (None) unless the source says L or R
    ds.Laterality = laterality if laterality in ("L", "R") else None  # type: ignore[assignment]
    code = method_code(info.method)
    if code is not None:
        ds.DerivationCodeSequence = [code_item(code)]
    if header.get("LossyImageCompression") == "01":
        ds.LossyImageCompression = "01"
    add_geometry(ds, series, k, factor, banner)
    _set_dates(ds, stamp)
    _set_contribution_time(ds, stamp)
    return ds


def write_secondary_capture(series: Series, values: NDArray[np.floating], info: HeatmapInfo,
                            out_dir: Path, *, opacity: float = DEFAULT_OPACITY,
                            threshold: float = DEFAULT_THRESHOLD,
                            compression: Compression | None = "jpeg-ls",
                            ) -> tuple[ExportedObject, ...]:
    """Write the heatmap as a burned-in Secondary Capture series, one file per slice.

    Each frame is the enlarged, windowed slice with the map blended over it
    (``alpha = opacity * min(value, 1)`` where ``value >= threshold``), framed by the
    banner band above and the legend band below (:func:`~medcam.export.render.layout`).

    Args:
        series: the source series.
        values: heatmap in scale units (>= 0; 1 = ``info.scale``'s reference, values
            above 1 are coloured as 1), shaped like ``series.array``.
        info: model, method, class, probability and scale (the only text burned in).
        out_dir: folder to create; must not exist or be empty. Files are named
            ``IM000001.dcm``... in Instance Number order.
        opacity: overlay opacity at value 1, in (0, 1].
        threshold: values below it are not coloured, in [0, 1).
        compression: ``"jpeg-ls"`` (JPEG-LS Lossless, default; about half the size
            of RLE on these frames), ``"rle"`` (RLE Lossless) or ``None`` (Explicit
            VR Little Endian, uncompressed).

    Returns:
        One :class:`ExportedObject` per source slice, in slice order.

    Raises:
        ExportError: on an invalid heatmap, a non-empty ``out_dir`` or any failure
            while building or writing; nothing is left in ``out_dir`` then.

    """
    heat = check_values(series, values)
    syntax = _check_options(float(opacity), float(threshold), compression)
    out_dir = Path(out_dir)
    rows, columns = series.array.shape[1:]
    factor = upscale_factor(rows, columns)
    window = volume_window(series.array, series.window)
    monochrome1 = series.photometric_interpretation == "MONOCHROME1"
    stamp = timestamp(info, series.headers[0], missing_time="")
    lines = (BANNER, info.model_line)
    banner = layout(rows * factor, columns * factor, len(lines)).banner_bottom
    results = []
    try:
        with atomic_directory(out_dir) as tmp:
            for k in range(series.array.shape[0]):
                frame = render_frame(series.array[k], heat[k], window, monochrome1, factor,
                                     lines, opacity=opacity, threshold=threshold,
                                     note=info.scale_note)
                ds = _build(series, info, frame, k, factor, stamp, banner, syntax)
                buffer = BytesIO()
                dcmwrite(buffer, ds, enforce_file_format=True)
                data = buffer.getvalue()
                name = f"IM{k + 1:06d}.dcm"
                write_synced(tmp / name, data)
                results.append(ExportedObject(
                    kind="sc", sop_class_uid=ds.SOPClassUID, size=len(data),
                    sop_instance_uid=ds.SOPInstanceUID,
                    series_instance_uid=ds.SeriesInstanceUID, path=out_dir / name,
                    sha256=hashlib.sha256(data).hexdigest(), instance_number=k + 1,
                    source_sop_instance_uid=series.sop_instance_uids[k],
                    source_frame_number=series.frame_numbers[k]))
    except FileExistsError as exc:
        raise ExportError("output folder exists and is not empty; medcam does not "
                          "overwrite an export") from exc
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ExportError(f"Secondary Capture export failed ({type(exc).__name__}); "
                          "no output was left behind") from exc
    return tuple(results)
