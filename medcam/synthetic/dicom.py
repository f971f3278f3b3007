"""Write synthetic DICOM: CT/MR series (DX: :mod:`.projection`; Enhanced CT: :mod:`.enhanced`).

Used by tests, by the sample generator and by model training. Needs pydicom and
NumPy only (no SimpleITK). Every instance is placed exactly as the given
:class:`~medcam.geometry.Geometry` says: slice ``k`` has Image Position (Patient)
``geometry.index_to_lps((k, 0, 0))``, Image Orientation (Patient) = (row cosine =
``direction[:, 2]``, column cosine = ``direction[:, 1]``) and Pixel Spacing =
``spacing[1:]``. Decimal strings are written with up to 16 characters, so
positions round-trip to about 1e-10 mm.

Transfer syntaxes (:data:`WRITABLE_TRANSFER_SYNTAXES`): Explicit and Implicit VR
Little Endian and Deflated Explicit VR Little Endian natively; RLE Lossless
(pydicom's own encoder), JPEG-LS Lossless (pyjpegls) and JPEG 2000 Lossless
(pylibjpeg-openjpeg) through ``Dataset.compress``.

UIDs: with ``uid_seed`` every UID is ``2.25.<uuid5(seed/role) as integer>``, so the
same call writes byte-identical files; without it, UIDs are random ``2.25.`` UIDs.
Two series written with the same seed get the same UIDs: use one seed per series
and pass ``study_instance_uid`` to put several series in one study.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    MRImageStorage,
    RLELossless,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

from medcam.geometry import Geometry

__all__ = ["WRITABLE_TRANSFER_SYNTAXES", "deterministic_uid", "write_series"]

_NATIVE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian)
#: Transfer syntaxes the writers can produce.
WRITABLE_TRANSFER_SYNTAXES: tuple[UID, ...] = (*_NATIVE, RLELossless, JPEGLSLossless,
                                               JPEG2000Lossless)
_UID_NAMESPACE = uuid.UUID("6f1d8a52-3c1e-5b7e-9a51-6d65646361ed")
_SOP_CLASS = {"CT": CTImageStorage, "MR": MRImageStorage}
_DATE, _TIME = "20000101", "120000"


def deterministic_uid(seed: str | None, role: str) -> str:
    """Derive a ``2.25.`` UID from ``seed`` and ``role`` (random if ``seed`` is ``None``).

    Args:
        seed: any string; ``None`` for a random UID.
        role: what the UID identifies, e.g. ``"series"`` or ``"instance/3"``.

    Returns:
        The UID (at most 44 characters).

    """
    if seed is None:
        return str(generate_uid(prefix=None))
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, f'{seed}/{role}').int}"


def _ds(values: ArrayLike) -> list[str]:
    """Decimal strings of at most 16 characters; |x| < 1e-15 is written as 0."""
    return [format_number_as_ds(0.0 if abs(v) < 1e-15 else float(v))
            for v in np.atleast_1d(np.asarray(values, dtype=float))]


def _stored(values: NDArray[Any], slope: float, intercept: float) -> NDArray[Any]:
    stored = np.rint((np.asarray(values, dtype=np.float64) - intercept) / slope)
    if not np.isfinite(stored).all():
        raise ValueError("values must be finite")
    if stored.min() >= 0 and stored.max() <= np.iinfo(np.uint16).max:
        return stored.astype(np.uint16)
    if stored.min() >= np.iinfo(np.int16).min and stored.max() <= np.iinfo(np.int16).max:
        return stored.astype(np.int16)
    raise ValueError("values do not fit 16-bit stored values with this rescale slope/intercept")


def _common(sop_class_uid: str, sop_instance_uid: str, modality: str, *, study_instance_uid: str,
            series_instance_uid: str, patient_name: str, patient_id: str,
            series_description: str, series_number: int, instance_number: int) -> Dataset:
    """Patient, General Study/Series/Equipment/Image and SOP Common attributes."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class_uid, sop_instance_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = _DATE
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = _TIME
    ds.AccessionNumber, ds.Modality, ds.Manufacturer = "", modality, "medcam"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Synthetic study"
    ds.SeriesDescription = series_description
    ds.ManufacturerModelName = "medcam synthetic"
    ds.PatientName, ds.PatientID = patient_name, patient_id
    ds.PatientBirthDate, ds.PatientSex = "", "O"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_instance_uid, series_instance_uid
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", series_number, instance_number
    return ds


def _pixel_module(ds: Dataset, stored: NDArray[Any], bits_stored: int = 16) -> None:
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape[-2:]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
    ds.PixelRepresentation = int(stored.dtype == np.int16)


def _save(ds: Dataset, stored: NDArray[Any], path: Path, transfer_syntax_uid: str) -> Path:
    uid = UID(transfer_syntax_uid)
    if uid not in WRITABLE_TRANSFER_SYNTAXES:
        raise ValueError(f"cannot write transfer syntax {uid} ({uid.name})")
    ds.file_meta.TransferSyntaxUID = uid
    if uid in _NATIVE:
        ds.PixelData = np.ascontiguousarray(stored, dtype=stored.dtype.newbyteorder("<")).tobytes()
    else:
        try:
            ds.compress(uid, np.ascontiguousarray(stored), generate_instance_uid=False)
        except RuntimeError as exc:  # every installed encoder refused the data
            raise ValueError(f"the pixel data could not be encoded as {uid.name} (JPEG 2000 "
                             "needs images of at least 32 x 32 pixels)") from exc
    ds.save_as(path, enforce_file_format=True)
    return path


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _apply_extra(ds: Dataset, extra: Mapping[str, Any] | None) -> None:
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)


def _check_volume(volume: NDArray[Any], geometry: Geometry) -> NDArray[Any]:
    arr = np.asarray(volume)
    if arr.shape != geometry.shape:
        raise ValueError(f"`volume_hu` shape {arr.shape} differs from geometry {geometry.shape}")
    return arr


def write_series(
    volume_hu: NDArray[Any], geometry: Geometry, out_dir: Path, *, modality: str = "CT",
    study_instance_uid: str | None = None, series_instance_uid: str | None = None,
    frame_of_reference_uid: str | None = None, patient_name: str = "SYNTHETIC^PHANTOM",
    patient_id: str = "SYN0001", series_description: str = "Synthetic phantom",
    series_number: int = 1, transfer_syntax_uid: str = ExplicitVRLittleEndian,
    descending: bool = False, shuffle_names: bool = True, rescale_slope: float = 1.0,
    rescale_intercept: float = -1024.0, window: tuple[float, float] | None = (40.0, 400.0),
    uid_seed: str | None = None, extra: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write a volume as single-frame CT Image (or MR Image) Storage instances.

    Args:
        volume_hu: values after the modality LUT (HU for CT), shaped like ``geometry``.
        geometry: where the volume lies; slice ``k`` is written at ``(k, 0, 0)``.
        out_dir: folder to write into (created if needed).
        modality: ``"CT"`` or ``"MR"``.
        study_instance_uid: Study Instance UID; derived from ``uid_seed`` if ``None``.
        series_instance_uid: Series Instance UID; derived if ``None``.
        frame_of_reference_uid: defaults to the geometry's, else derived.
        patient_name: Patient's Name.
        patient_id: Patient ID.
        series_description: Series Description.
        series_number: Series Number.
        transfer_syntax_uid: one of :data:`WRITABLE_TRANSFER_SYNTAXES`.
        descending: number instances from the last slice down (Instance Number 1 is
            slice ``n - 1``) and write them in that order.
        shuffle_names: name files by a hash of their SOP Instance UID, so that names
            do not reveal slice order; else ``IM00001.dcm`` by Instance Number.
        rescale_slope: Rescale Slope; stored = round((value - intercept) / slope).
        rescale_intercept: Rescale Intercept.
        window: default (Window Center, Window Width), or ``None``.
        uid_seed: seed for deterministic UIDs (see the module docstring).
        extra: more attributes by keyword, set last on every instance (may override).

    Returns:
        The written files in slice order (index ``k`` holds slice ``k``).

    Raises:
        ValueError: bad modality, shape, transfer syntax, or values that do not fit
            16-bit stored values.

    """
    if modality not in _SOP_CLASS:
        raise ValueError(f"`modality` must be one of {sorted(_SOP_CLASS)}, got {modality!r}")
    stored = _stored(_check_volume(volume_hu, geometry), rescale_slope, rescale_intercept)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    study = study_instance_uid or deterministic_uid(uid_seed, "study")
    series = series_instance_uid or deterministic_uid(uid_seed, "series")
    frame_of_reference = (frame_of_reference_uid or geometry.frame_of_reference_uid
                          or deterministic_uid(uid_seed, "frame_of_reference"))
    d = geometry.direction_matrix
    n = geometry.shape[0]
    paths: dict[int, Path] = {}
    for k in (range(n - 1, -1, -1) if descending else range(n)):
        number = n - k if descending else k + 1
        sop_uid = deterministic_uid(uid_seed, f"instance/{k}")
        ds = _common(_SOP_CLASS[modality], sop_uid, modality, study_instance_uid=study,
                     series_instance_uid=series, patient_name=patient_name,
                     patient_id=patient_id, series_description=series_description,
                     series_number=series_number, instance_number=number)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL" if modality == "CT" else "OTHER"]
        ds.AcquisitionNumber = 1
        ds.PatientPosition, ds.BodyPartExamined = "HFS", "CHEST"
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = frame_of_reference, ""
        ds.ImagePositionPatient = _ds(geometry.index_to_lps((k, 0, 0)))
        ds.ImageOrientationPatient = _ds(np.concatenate([d[:, 2], d[:, 1]]))
        ds.PixelSpacing = _ds(geometry.spacing[1:])
        ds.SliceThickness = _ds(geometry.spacing[0])[0]
        if modality == "CT":
            ds.KVP = "120"
            ds.RescaleType = "HU"
        else:
            ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "RM", "NONE", ""
            ds.MRAcquisitionType, ds.EchoTrainLength = "3D", 1
            ds.RepetitionTime, ds.EchoTime = "10", "5"
            ds.SpacingBetweenSlices = ds.SliceThickness
        if modality == "CT" or (rescale_slope, rescale_intercept) != (1.0, 0.0):
            ds.RescaleIntercept = _ds(rescale_intercept)[0]
            ds.RescaleSlope = _ds(rescale_slope)[0]
        if window is not None:
            ds.WindowCenter, ds.WindowWidth = _ds(window[0])[0], _ds(window[1])[0]
        _pixel_module(ds, stored)
        _apply_extra(ds, extra)
        name = (hashlib.sha256(sop_uid.encode()).hexdigest()[:16] if shuffle_names
                else f"IM{number:05d}")
        paths[k] = _save(ds, stored[k], out_dir / f"{name}.dcm", transfer_syntax_uid)
    return [paths[k] for k in range(n)]
