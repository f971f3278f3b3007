"""BINARY Segmentation of the region where a heatmap reaches a threshold (PS3.3 A.51).

One segment: the voxels with map value >= ``threshold`` (in scale units, i.e. the
calibrated or per-volume 0-1 scale of :class:`~medcam.export.types.CamScale`), on
the source grid, frames only where the region is present (highdicom
``omit_empty_frames``), each referencing its source slice. Segment:

* label ``"<method> >= <threshold> <mode>"`` and the same in the description
  fields, so the threshold and scale are recorded;
* Segmented Property Category SCT 309825002 "Spatial and Relational Concept"
  (CID 7150) and Type NCIt C85402 "Imaging Region of Interest": the segment is
  where the explanation is high, not an anatomical or morphological structure
  (see :mod:`medcam.export.codes`);
* Recommended Display CIELab Value: the heatmap colour scale (Turbo) at 0.8,
  an orange red (RGB 244, 92, 23), so viewers draw the region in a colour of the
  Secondary Capture's hot end (OHIF 3.x warns about segments without one);
* Segment Algorithm Type ``AUTOMATIC`` with Segmentation Algorithm Identification:
  name ``"<model> <method>"``, version, family DCM 123110 "Artificial Intelligence"
  (CID 7162), source ``medcam <version>``, parameters threshold, scale, target.

An empty region has no SEG: :func:`build_segmentation` returns ``None`` and the
caller records it.
"""

from __future__ import annotations

import math

import highdicom as hd
import numpy as np
from numpy.typing import NDArray
from pydicom.sr.codedict import codes

from medcam.errors import ExportError
from medcam.export._resultset import (
    check_values,
    finalize,
    in_source_order,
    object_uids,
    series_number,
    software_versions,
    source_datasets,
)
from medcam.export.codes import REGION_OF_INTEREST, SPATIAL_CONCEPT
from medcam.export.colormap import colorize
from medcam.export.types import HeatmapInfo
from medcam.series.types import Series

__all__ = ["DISPLAY_RGB", "build_segmentation", "region_mask", "segment_label"]


def _display_rgb() -> tuple[int, int, int]:
    red, green, blue = (int(c) for c in colorize(0.8))
    return red, green, blue


#: Recommended display colour of the segment: the colour scale at 0.8 (sRGB).
DISPLAY_RGB = _display_rgb()


def region_mask(values: NDArray[np.floating], threshold: float) -> NDArray[np.bool_]:
    """The segmented region: ``values >= threshold``."""
    return np.asarray(values) >= threshold


def segment_label(info: HeatmapInfo, threshold: float) -> str:
    """Segment Label (LO), e.g. ``"gradcam >= 0.5 calibrated"``."""
    return f"{info.method} >= {threshold:g} {info.scale_mode}"[:64]


def _algorithm(info: HeatmapInfo, threshold: float) -> hd.AlgorithmIdentificationSequence:
    scale = "none" if info.scale is None else f"{info.scale.value:.6g}"
    return hd.AlgorithmIdentificationSequence(
        name=f"{info.model_name} {info.method}"[:64], family=codes.cid7162.ArtificialIntelligence,
        version=info.model_version, source=f"medcam {info.software_version}"[:64],
        parameters={"threshold": f"{threshold:g}", "scale_mode": info.scale_mode,
                    "scale_value": scale, "target": info.target_class})


def build_segmentation(series: Series, values: NDArray[np.floating], info: HeatmapInfo, *,
                       threshold: float = 0.5) -> hd.seg.Segmentation | None:
    """Build the BINARY SEG of ``values >= threshold``, or ``None`` for an empty region.

    Args:
        series: the source series.
        values: the map in scale units (float, >= 0), shaped like ``series.array``.
        info: model, method, class and scale.
        threshold: region threshold in scale units (finite, > 0).

    Returns:
        The Segmentation, or ``None`` when no voxel reaches ``threshold``.

    Raises:
        ExportError: on an invalid map or threshold, a source without patient
            geometry, or when highdicom rejects the input.

    """
    heat = check_values(series, values)
    if not (math.isfinite(threshold) and threshold > 0.0):
        raise ExportError("SEG threshold must be finite and > 0")
    if not series.has_patient_geometry:
        raise ExportError("Segmentation export needs a source with patient geometry")
    mask = region_mask(heat, threshold)
    if not mask.any():
        return None
    label = segment_label(info, threshold)
    description = hd.seg.SegmentDescription(
        segment_number=1, segment_label=label, segmented_property_category=SPATIAL_CONCEPT,
        segmented_property_type=REGION_OF_INTEREST,
        display_color=hd.color.CIELabColor.from_rgb(*DISPLAY_RGB),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=_algorithm(info, threshold))
    series_uid, sop_uid = object_uids(series, info, "seg")
    try:
        seg = hd.seg.Segmentation(
            source_datasets(series), in_source_order(series, mask.astype(np.uint8)),
            hd.seg.SegmentationTypeValues.BINARY, [description], series_uid,
            series_number(series.headers[0], "seg"), sop_uid, 1, "medcam",
            info.model_name[:64], software_versions(info),  # type: ignore[arg-type]
            info.model_sha256,
            content_label="HEATMAP", content_description=f"AI heatmap region {label}"[:64])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ExportError(f"Segmentation export failed ({type(exc).__name__})") from exc
    finalize(seg, series, info, "seg")
    return seg
