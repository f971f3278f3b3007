"""Write a synthetic volume as one Enhanced CT Image (multi-frame) instance.

The frames carry the per-frame geometry of :func:`medcam.synthetic.dicom.write_series`
(same conventions and UID rules), in any frame order, so readers must place each
frame by its own Plane Position.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence as SequenceOf
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import EnhancedCTImageStorage, ExplicitVRLittleEndian

from medcam.geometry import Geometry
from medcam.synthetic.dicom import (
    _DATE,
    _TIME,
    _apply_extra,
    _check_volume,
    _common,
    _ds,
    _pixel_module,
    _save,
    _stored,
    deterministic_uid,
)

__all__ = ["write_enhanced_series"]


def _item(**attributes: object) -> Dataset:
    item = Dataset()
    for keyword, value in attributes.items():
        setattr(item, keyword, value)
    return item


def write_enhanced_series(
    volume_hu: NDArray[Any], geometry: Geometry, out_path: Path, *,
    frame_order: SequenceOf[int] | None = None, study_instance_uid: str | None = None,
    series_instance_uid: str | None = None, frame_of_reference_uid: str | None = None,
    patient_name: str = "SYNTHETIC^PHANTOM", patient_id: str = "SYN0001",
    series_description: str = "Synthetic phantom (enhanced)", series_number: int = 1,
    transfer_syntax_uid: str = ExplicitVRLittleEndian, rescale_slope: float = 1.0,
    rescale_intercept: float = -1024.0, window: tuple[float, float] | None = (40.0, 400.0),
    uid_seed: str | None = None, extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a volume as one Enhanced CT Image Storage multi-frame instance.

    Per-frame Plane Position, shared Plane Orientation, Pixel Measures, Pixel Value
    Transformation and Frame VOI LUT functional groups carry the geometry and the
    rescale. It holds what a reader needs, not every Type 1 attribute of the
    Enhanced CT IOD (``dciodvfy`` reports the missing CT acquisition groups).

    Args:
        volume_hu: HU values shaped like ``geometry``.
        geometry: where the volume lies.
        out_path: the file to write (its folder is created if needed).
        frame_order: slice index stored in each frame (a permutation of
            ``range(n)``); slice order by default.
        study_instance_uid: Study Instance UID; derived from ``uid_seed`` if ``None``.
        series_instance_uid: Series Instance UID; derived if ``None``.
        frame_of_reference_uid: defaults to the geometry's, else derived.
        patient_name: Patient's Name.
        patient_id: Patient ID.
        series_description: Series Description.
        series_number: Series Number.
        transfer_syntax_uid: one of :data:`WRITABLE_TRANSFER_SYNTAXES`.
        rescale_slope: Rescale Slope.
        rescale_intercept: Rescale Intercept.
        window: default (Window Center, Window Width), or ``None``.
        uid_seed: seed for deterministic UIDs.
        extra: more attributes by keyword, set last (may override).

    Returns:
        ``out_path``.

    Raises:
        ValueError: bad shape, frame order, transfer syntax or values.

    """
    stored = _stored(_check_volume(volume_hu, geometry), rescale_slope, rescale_intercept)
    n = geometry.shape[0]
    order = list(range(n)) if frame_order is None else [int(k) for k in frame_order]
    if sorted(order) != list(range(n)):
        raise ValueError("`frame_order` must be a permutation of range(number of slices)")
    ds = _common(EnhancedCTImageStorage, deterministic_uid(uid_seed, "instance/0"), "CT",
                 study_instance_uid=study_instance_uid or deterministic_uid(uid_seed, "study"),
                 series_instance_uid=series_instance_uid or deterministic_uid(uid_seed, "series"),
                 patient_name=patient_name, patient_id=patient_id,
                 series_description=series_description, series_number=series_number,
                 instance_number=1)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.NumberOfFrames = n
    ds.AcquisitionNumber, ds.AcquisitionDateTime = 1, _DATE + _TIME
    ds.AcquisitionDuration, ds.ContentQualification = 0.0, "RESEARCH"
    ds.BurnedInAnnotation, ds.LossyImageCompression = "NO", "00"
    ds.PresentationLUTShape, ds.PatientPosition = "IDENTITY", "HFS"
    ds.FrameOfReferenceUID = (frame_of_reference_uid or geometry.frame_of_reference_uid
                              or deterministic_uid(uid_seed, "frame_of_reference"))
    ds.PositionReferenceIndicator = ""
    ds.DeviceSerialNumber, ds.SoftwareVersions = "0", "medcam"
    dimension_uid = deterministic_uid(uid_seed, "dimension_organization")
    ds.DimensionOrganizationSequence = Sequence([_item(DimensionOrganizationUID=dimension_uid)])
    ds.DimensionIndexSequence = Sequence([
        _item(DimensionOrganizationUID=dimension_uid, DimensionIndexPointer=pointer,
              FunctionalGroupPointer=0x00209111)
        for pointer in (0x00209056, 0x00209057)])  # Stack ID, In-Stack Position Number
    d = geometry.direction_matrix
    shared = _item(
        PlaneOrientationSequence=Sequence([_item(
            ImageOrientationPatient=_ds(np.concatenate([d[:, 2], d[:, 1]])))]),
        PixelMeasuresSequence=Sequence([_item(
            PixelSpacing=_ds(geometry.spacing[1:]),
            SliceThickness=_ds(geometry.spacing[0])[0],
            SpacingBetweenSlices=_ds(geometry.spacing[0])[0])]),
        PixelValueTransformationSequence=Sequence([_item(
            RescaleIntercept=_ds(rescale_intercept)[0], RescaleSlope=_ds(rescale_slope)[0],
            RescaleType="HU")]),
        CTImageFrameTypeSequence=Sequence([_item(
            FrameType=["ORIGINAL", "PRIMARY", "VOLUME", "NONE"], PixelPresentation="MONOCHROME",
            VolumetricProperties="VOLUME", VolumeBasedCalculationTechnique="NONE")]))
    if window is not None:
        shared.FrameVOILUTSequence = Sequence([_item(
            WindowCenter=_ds(window[0])[0], WindowWidth=_ds(window[1])[0])])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.PerFrameFunctionalGroupsSequence = Sequence([
        _item(FrameContentSequence=Sequence([_item(
                  StackID="1", InStackPositionNumber=k + 1, DimensionIndexValues=[1, k + 1])]),
              PlanePositionSequence=Sequence([_item(
                  ImagePositionPatient=_ds(geometry.index_to_lps((k, 0, 0))))]))
        for k in order])
    _pixel_module(ds, stored)
    _apply_extra(ds, extra)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return _save(ds, stored[order], out_path, transfer_syntax_uid)
