"""Write a synthetic 2-D image as a Digital X-Ray (For Presentation) instance.

Conventions and UID rules are those of :mod:`medcam.synthetic.dicom`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.sequence import Sequence
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian

from medcam.synthetic.dicom import (
    _apply_extra,
    _code,
    _common,
    _ds,
    _pixel_module,
    _save,
    deterministic_uid,
)

__all__ = ["write_projection"]


def write_projection(
    image: NDArray[Any], pixel_spacing: tuple[float, float], out_path: Path, *,
    modality: str = "DX", value_range: tuple[float, float] = (0.0, 1.0),
    study_instance_uid: str | None = None, series_instance_uid: str | None = None,
    patient_name: str = "SYNTHETIC^PHANTOM", patient_id: str = "SYN0001",
    series_description: str = "Synthetic radiograph", series_number: int = 1,
    transfer_syntax_uid: str = ExplicitVRLittleEndian, uid_seed: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a 2-D image as a Digital X-Ray Image Storage - For Presentation instance.

    Stored values are 12-bit (0..4095), MONOCHROME2, mapped linearly from
    ``value_range``; Rescale Slope 1, Intercept 0; the window covers the full range.

    Args:
        image: (rows, columns) values within ``value_range`` (bright = attenuating).
        pixel_spacing: Imager Pixel Spacing (between rows, between columns) in mm.
        out_path: the file to write (its folder is created if needed).
        modality: must be ``"DX"``.
        value_range: the values mapped to stored 0 and 4095.
        study_instance_uid: Study Instance UID; derived from ``uid_seed`` if ``None``.
        series_instance_uid: Series Instance UID; derived if ``None``.
        patient_name: Patient's Name.
        patient_id: Patient ID.
        series_description: Series Description.
        series_number: Series Number.
        transfer_syntax_uid: one of :data:`WRITABLE_TRANSFER_SYNTAXES`.
        uid_seed: seed for deterministic UIDs.
        extra: more attributes by keyword, set last (may override).

    Returns:
        ``out_path``.

    Raises:
        ValueError: bad modality, shape, spacing or values outside ``value_range``.

    """
    if modality != "DX":
        raise ValueError(f"`modality` must be 'DX', got {modality!r}")
    arr = np.asarray(image, dtype=np.float64)
    low, high = value_range
    if arr.ndim != 2 or not np.isfinite(arr).all() or arr.min() < low or arr.max() > high:
        raise ValueError("`image` must be 2-D, finite and within `value_range`")
    if len(pixel_spacing) != 2 or min(pixel_spacing) <= 0:
        raise ValueError("`pixel_spacing` must be two positive numbers")
    stored = np.rint((arr - low) / (high - low) * 4095).astype(np.uint16)
    sop_uid = deterministic_uid(uid_seed, "instance/0")
    ds = _common(DigitalXRayImageStorageForPresentation, sop_uid, "DX",
                 study_instance_uid=study_instance_uid or deterministic_uid(uid_seed, "study"),
                 series_instance_uid=series_instance_uid or deterministic_uid(uid_seed, "series"),
                 patient_name=patient_name, patient_id=patient_id,
                 series_description=series_description, series_number=series_number,
                 instance_number=1)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.BodyPartExamined, ds.ImageLaterality, ds.ViewPosition = "CHEST", "U", "PA"
    ds.PatientOrientation = ["L", "F"]
    ds.DetectorType, ds.KVP, ds.PositionerType = "DIRECT", "120", "NONE"
    ds.ImagerPixelSpacing = _ds(pixel_spacing)
    ds.PixelIntensityRelationship, ds.PixelIntensityRelationshipSign = "LIN", 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "0", "1", "US"
    ds.PresentationLUTShape, ds.LossyImageCompression = "IDENTITY", "00"
    ds.BurnedInAnnotation = "NO"
    ds.WindowCenter, ds.WindowWidth = "2048", "4096"
    ds.AcquisitionContextSequence = Sequence()
    ds.AnatomicRegionSequence = Sequence([_code("51185008", "SCT", "Chest")])
    ds.ViewCodeSequence = Sequence([_code("399348003", "SCT", "postero-anterior")])
    _pixel_module(ds, stored, bits_stored=12)
    _apply_extra(ds, extra)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return _save(ds, stored, out_path, transfer_syntax_uid)
