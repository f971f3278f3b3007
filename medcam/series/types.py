"""The :class:`Series` type: one DICOM image series as a volume in LPS space."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from medcam.geometry import Geometry

__all__ = ["Series"]


@dataclass(frozen=True, repr=False)
class Series:
    """A DICOM image series read into memory; valid once constructed.

    Args:
        array: float32 voxel values after the modality LUT (e.g. HU for CT), shaped
            (slices, rows, columns) in physical slice order (ascending along
            ``geometry.slice_normal``). Made read-only.
        geometry: where each voxel lies in LPS patient space.
        study_instance_uid: Study Instance UID of the source.
        series_instance_uid: Series Instance UID of the source.
        sop_class_uid: SOP Class UID of the source instances.
        modality: Modality (0008,0060), e.g. ``"CT"``.
        sop_instance_uids: SOP Instance UID of each slice, in slice order (a
            multi-frame instance repeats its UID for each of its frames).
        frame_numbers: 1-based frame number of each slice within its instance, or
            ``None`` for single-frame instances.
        headers: per-slice source header (pixel data removed), in slice order.
        photometric_interpretation: ``MONOCHROME1`` or ``MONOCHROME2``.
        window: default (centre, width) from the source, if it has one.
        has_patient_geometry: False for projection images (DX/CR/MG) whose grid
            is not placed in patient space by Image Position/Orientation.
        paths: the file of each slice, in slice order.
        warnings: what the reader noticed but did not refuse (lost end slices,
            unreadable files beside the series, Rescale Slope 0, assumed spacing);
            one sentence each, no patient data (see :mod:`medcam.series.completeness`).

    """

    array: NDArray[np.float32]
    geometry: Geometry
    study_instance_uid: str
    series_instance_uid: str
    sop_class_uid: str
    modality: str
    sop_instance_uids: tuple[str, ...]
    frame_numbers: tuple[int | None, ...]
    headers: tuple[Dataset, ...] = field(compare=False)
    photometric_interpretation: str = "MONOCHROME2"
    window: tuple[float, float] | None = None
    has_patient_geometry: bool = True
    paths: tuple[Path, ...] = field(default=(), compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        arr = np.asarray(self.array, dtype=np.float32)
        if arr.ndim != 3:
            raise ValueError(f"`array` must be 3-D (slices, rows, columns), got {arr.ndim}-D")
        if arr.shape != self.geometry.shape:
            raise ValueError(
                f"`array` shape {arr.shape} differs from geometry {self.geometry.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("`array` holds non-finite values")
        n = arr.shape[0]
        for name in ("sop_instance_uids", "frame_numbers", "headers"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"`{name}` must have one entry per slice ({n})")
        if self.photometric_interpretation not in ("MONOCHROME1", "MONOCHROME2"):
            raise ValueError("`photometric_interpretation` must be MONOCHROME1 or MONOCHROME2")
        object.__setattr__(self, "warnings", tuple(str(w) for w in self.warnings))
        arr = arr.copy() if arr is self.array and arr.flags.writeable else arr
        arr.flags.writeable = False
        object.__setattr__(self, "array", arr)

    @property
    def is_2d(self) -> bool:
        """True for a single 2D image (one slice)."""
        return bool(self.array.shape[0] == 1)

    def __repr__(self) -> str:
        """Show identifiers and shape only, never patient attributes."""
        return (f"Series(modality={self.modality!r}, shape={self.array.shape}, "
                f"spacing={self.geometry.spacing}, series_instance_uid="
                f"{self.series_instance_uid!r})")
