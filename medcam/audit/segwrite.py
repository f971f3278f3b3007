"""Write a binary DICOM SEG ground truth for an image series (with highdicom).

Used by ``sample_dicoms/make_audit_samples.py`` and by tests; also a way for users to
turn a mask on a series grid into an audit ground truth. The SEG references every
source instance and has one frame per source slice that holds mask voxels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
from numpy.typing import NDArray
from pydicom import dcmread
from pydicom.sr.codedict import codes

from medcam.audit.errors import GroundTruthError

__all__ = ["write_ground_truth"]


def write_ground_truth(mask: NDArray[np.bool_], source_paths: Sequence[Path], out_path: Path, *,
                       series_instance_uid: str, sop_instance_uid: str,
                       segment_label: str = "nodule", series_number: int = 900) -> Path:
    """Write ``mask`` as a one-segment BINARY Segmentation of the source slices.

    Args:
        mask: ``(slices, rows, columns)`` booleans, slice ``k`` on ``source_paths[k]``.
        source_paths: the single-frame source instances in slice order.
        out_path: the SEG file to write.
        series_instance_uid: Series Instance UID of the SEG.
        sop_instance_uid: SOP Instance UID of the SEG.
        segment_label: the segment's label (Segmented Property Type is SCT Nodule).
        series_number: Series Number of the SEG.

    Returns:
        ``out_path``.

    Raises:
        GroundTruthError: the mask does not match the sources or is empty.

    """
    arr = np.asarray(mask, dtype=bool)
    if arr.ndim != 3 or arr.shape[0] != len(source_paths):
        raise GroundTruthError("the mask needs one (rows, columns) slice per source instance")
    if not arr.any():
        raise GroundTruthError("refusing to write an empty ground-truth segment")
    sources = [dcmread(p) for p in source_paths]
    if any((int(ds.Rows), int(ds.Columns)) != arr.shape[1:] for ds in sources):
        raise GroundTruthError("mask rows and columns differ from the source images")
    description = hd.seg.SegmentDescription(
        segment_number=1, segment_label=segment_label,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Nodule,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=arr.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description], series_instance_uid=series_instance_uid,
        series_number=series_number, sop_instance_uid=sop_instance_uid, instance_number=1,
        manufacturer="medcam", manufacturer_model_name="medcam audit ground truth",
        software_versions="0.1.0", device_serial_number="0",
        series_description="Synthetic ground truth")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(out_path)
    return out_path
