"""Read a DICOM SEG ground truth (highdicom) and map it onto its source series grid.

Two mappings, tried in this order:

1. **by instance**: the SEG references the series' SOP Instances (the usual case for
   single-frame CT/MR); highdicom returns one mask slice per source slice, so the mask
   lands exactly on the series' (slice, row, column) grid;
2. **by geometry**: the SEG shares the series' Frame of Reference; the SEG volume
   (highdicom ``get_volume``) is sampled at every series voxel centre in LPS by nearest
   neighbour (``index = round(A_seg^-1 p)``, outside the SEG volume = background).

All segments are merged into one mask unless ``segment_numbers`` picks some.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import highdicom as hd
import numpy as np
from numpy.typing import NDArray
from pydicom.errors import InvalidDicomError

from medcam.audit.errors import GroundTruthError
from medcam.geometry import Geometry
from medcam.series.scan import scan
from medcam.series.types import Series

__all__ = ["SEG_SOP_CLASS_UID", "GroundTruth", "find_segmentations", "map_volume_to_geometry",
           "read_ground_truth"]

#: Segmentation Storage.
SEG_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.66.4"
_HD_ERRORS = (ValueError, KeyError, AttributeError, TypeError, IndexError, OSError,
              InvalidDicomError, RuntimeError)


@dataclass(frozen=True, repr=False)
class GroundTruth:
    """A ground-truth mask on a series grid.

    Attributes:
        mask: booleans shaped like the series array (read-only).
        sop_instance_uid: SOP Instance UID of the SEG.
        segment_numbers: the merged segments.
        segment_labels: their labels.
        mapping: ``"instances"`` or ``"geometry"`` (see the module docstring).

    """

    mask: NDArray[np.bool_]
    sop_instance_uid: str
    segment_numbers: tuple[int, ...]
    segment_labels: tuple[str, ...]
    mapping: Literal["instances", "geometry"]

    def __post_init__(self) -> None:
        mask = np.asarray(self.mask, dtype=bool).copy()
        if mask.ndim != 3:
            raise GroundTruthError("a ground-truth mask must be 3-D (slices, rows, columns)")
        mask.flags.writeable = False
        object.__setattr__(self, "mask", mask)

    def __repr__(self) -> str:
        """Show identifiers and counts only."""
        return (f"GroundTruth(sop_instance_uid={self.sop_instance_uid!r}, "
                f"voxels={int(self.mask.sum())}, mapping={self.mapping!r})")


def find_segmentations(folder: Path) -> list[Path]:
    """DICOM SEG files under ``folder`` (headers only), sorted by path."""
    result = scan(folder)
    return sorted(h.path for h in result.headers
                  if str(h.dataset.get("SOPClassUID", "")) == SEG_SOP_CLASS_UID)


def map_volume_to_geometry(values: NDArray[np.bool_], affine: NDArray[np.float64],
                           geometry: Geometry) -> NDArray[np.bool_]:
    """Nearest-neighbour sample of a volume (index -> LPS ``affine``) at ``geometry``'s voxels."""
    arr = np.asarray(values, dtype=bool)
    centres = geometry.voxel_centers().reshape(-1, 3)
    index = (centres - affine[:3, 3]) @ np.linalg.inv(affine[:3, :3]).T
    nearest = np.rint(index).astype(np.int64)
    inside = np.all((nearest >= 0) & (nearest < np.asarray(arr.shape)), axis=1)
    out = np.zeros(centres.shape[0], dtype=bool)
    hit = nearest[inside]
    out[inside] = arr[hit[:, 0], hit[:, 1], hit[:, 2]]
    return out.reshape(geometry.shape)


def _references_series(seg: hd.seg.Segmentation, series: Series) -> bool:
    refs = getattr(seg, "ReferencedSeriesSequence", None) or []
    return any(str(r.SeriesInstanceUID) == series.series_instance_uid for r in refs)


def _by_instances(seg: hd.seg.Segmentation, series: Series, numbers: list[int]
                  ) -> NDArray[np.bool_]:
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=list(series.sop_instance_uids), segment_numbers=numbers,
        assert_missing_frames_are_empty=True)
    flat = np.asarray(pixels).reshape(*series.array.shape, -1)
    return np.asarray(flat.any(axis=-1), dtype=bool)


def _by_geometry(seg: hd.seg.Segmentation, series: Series, numbers: list[int]
                 ) -> NDArray[np.bool_]:
    frame = str(getattr(seg, "FrameOfReferenceUID", "") or "")
    if not frame or frame != (series.geometry.frame_of_reference_uid or ""):
        raise GroundTruthError("the SEG neither references the series' instances nor shares "
                               "its Frame of Reference")
    volume = seg.get_volume(segment_numbers=numbers)
    arr = np.asarray(volume.array)
    merged = np.asarray(arr.reshape(*volume.spatial_shape, -1).any(axis=-1), dtype=bool)
    return map_volume_to_geometry(merged, np.asarray(volume.affine, dtype=float),
                                  series.geometry)


def read_ground_truth(path: Path, series: Series, *,
                      segment_numbers: Sequence[int] | None = None) -> GroundTruth:
    """Read a DICOM SEG and return its mask on ``series``' voxel grid.

    Args:
        path: the SEG file.
        series: the image series it annotates.
        segment_numbers: segments to merge (default: all).

    Raises:
        GroundTruthError: unreadable SEG, unknown segments, or no way to map it.

    """
    try:
        seg = hd.seg.segread(path)
    except _HD_ERRORS as exc:
        raise GroundTruthError("a DICOM SEG file could not be read by highdicom") from exc
    available = [int(n) for n in seg.get_segment_numbers()]
    numbers = list(available if segment_numbers is None else segment_numbers)
    if not numbers or any(n not in available for n in numbers):
        raise GroundTruthError(f"SEG {seg.SOPInstanceUID} has segments {available}, "
                               f"not {numbers}")
    single_frame = all(f is None for f in series.frame_numbers)
    mapping: Literal["instances", "geometry"] = "instances"
    try:
        if single_frame and _references_series(seg, series):
            mask = _by_instances(seg, series, numbers)
        else:
            mapping = "geometry"
            mask = _by_geometry(seg, series, numbers)
    except GroundTruthError:
        raise
    except _HD_ERRORS as exc:
        raise GroundTruthError(f"SEG {seg.SOPInstanceUID} could not be mapped onto series "
                               f"{series.series_instance_uid}") from exc
    labels = tuple(str(seg.get_segment_description(n).segment_label) for n in numbers)
    return GroundTruth(mask=mask, sop_instance_uid=str(seg.SOPInstanceUID),
                       segment_numbers=tuple(numbers), segment_labels=labels, mapping=mapping)
