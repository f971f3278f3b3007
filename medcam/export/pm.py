r"""Parametric Map of a heatmap on the source series' own grid (PS3.3 A.75).

One frame per source slice, with its own Plane Position and the source's Plane
Orientation and Pixel Measures (highdicom copies them from the source images; frames
are ordered by highdicom along the slice normal and each references its source
slice in Derivation Image / Source Image Sequence). Pixel storage:

* default (``float_pixels=True``): 32-bit float pixels equal to the input, in
  scale units (Float Pixel Data admits only native transfer syntaxes; medcam writes
  Explicit VR Little Endian, uncompressed). The pixel values are the calibrated
  values themselves, so viewers that ignore the Real World Value Mapping (OHIF 3.x
  reads Float Pixel Data as is and rejects 16-bit maps) still show the scale.
  Mappings: slope 1 (scale) and ``scale.value`` (raw map units); VOI window centre
  0.5, width 1;
* ``float_pixels=False`` (compact archives, about a fifth of the float size):
  16-bit unsigned, losslessly compressed (JPEG-LS lossless; JPEG 2000 lossless and
  RLE lossless are accepted too). Stored value ``q = round(v / s)`` with slope
  ``s = max(1, max(v)) / 65535``, so the first Real World Value Mapping
  ``v' = s * q + 0`` (unit UCUM ``1``, the scale of
  :class:`~medcam.export.types.CamScale`) differs from the input by at most
  ``s / 2`` (half a quantisation step; at most 7.7e-6 for maps <= 1). A second
  mapping ``raw = (s * scale.value) * q`` gives raw map units, so the raw scale is
  recorded. The VOI LUT window shows scale values 0..1 (centre ``0.5 / s``, width
  ``1 / s`` in stored values; the PM has no Modality LUT). Viewers must apply the
  mapping to show the scale.

Content Label ``HEATMAP``, Derivation Code the method's CID 217 concept
(:mod:`medcam.export.codes`), Content Qualification ``RESEARCH``, Image Type
``DERIVED\PRIMARY\VOLUME\QUANTITY``; identity, dates and patient context as in
:mod:`medcam.export._resultset`.
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
from numpy.typing import NDArray
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

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
from medcam.export.codes import NO_UNITS, method_concept
from medcam.export.types import HeatmapInfo
from medcam.series.types import Series

__all__ = ["LOSSLESS_TRANSFER_SYNTAXES", "build_parametric_map", "quantisation_slope",
           "raw_scale"]

#: Transfer syntaxes accepted for the 16-bit map.
LOSSLESS_TRANSFER_SYNTAXES = (JPEGLSLossless, JPEG2000Lossless, RLELossless,
                              ExplicitVRLittleEndian)
_MAX_STORED = 65535


def quantisation_slope(values: NDArray[np.float32]) -> float:
    """Real World Value Slope ``max(1, max(values)) / 65535`` of the 16-bit map."""
    top = float(values.max()) if values.size else 1.0
    return max(1.0, top) / _MAX_STORED


def raw_scale(info: HeatmapInfo) -> float | None:
    """Raw map value shown as 1.0: ``scale.value``, else ``raw_max``, else unknown."""
    if info.scale is not None:
        return info.scale.value
    return info.raw_max if info.raw_max else None


def _mappings(info: HeatmapInfo, slope: float, value_range: tuple[float, float] | tuple[int, int]
              ) -> list[hd.pm.RealWorldValueMapping]:
    mode = info.scale_mode
    maps = [hd.pm.RealWorldValueMapping(
        lut_label="HEATMAP", lut_explanation=f"{info.method} {mode} scale, 1 = reference"[:64],
        unit=NO_UNITS, value_range=value_range, slope=slope, intercept=0.0)]
    raw = raw_scale(info)
    if raw is not None:
        maps.append(hd.pm.RealWorldValueMapping(
            lut_label="RAW", lut_explanation=f"raw {info.method} map, 1.0 shown = {raw:.6g}"[:64],
            unit=NO_UNITS, value_range=value_range, slope=slope * raw, intercept=0.0))
    return maps


def build_parametric_map(series: Series, values: NDArray[np.floating], info: HeatmapInfo, *,
                         float_pixels: bool = True,
                         transfer_syntax_uid: str = JPEGLSLossless) -> hd.pm.ParametricMap:
    """Build the heatmap as a Parametric Map on the source grid.

    Args:
        series: the source series (single-frame slices or one multi-frame image
            with patient geometry).
        values: the map in scale units (float, >= 0, may exceed 1 in calibrated
            mode), shaped like ``series.array``.
        info: model, method, class, probability and scale.
        float_pixels: write 32-bit float pixels (uncompressed, the default) instead
            of compressed 16-bit integers with a Real World Value Mapping.
        transfer_syntax_uid: transfer syntax of the 16-bit map, one of
            :data:`LOSSLESS_TRANSFER_SYNTAXES`; ignored with ``float_pixels``.

    Returns:
        The Parametric Map (a pydicom dataset with file meta); write it with
        :func:`medcam.export.write.write_object`.

    Raises:
        ExportError: on an invalid map, a source without patient geometry, an
            unsupported transfer syntax, or when highdicom rejects the input.

    """
    heat = check_values(series, values)
    if not series.has_patient_geometry:
        raise ExportError("Parametric Map export needs a source with patient geometry")
    if transfer_syntax_uid not in LOSSLESS_TRANSFER_SYNTAXES:
        raise ExportError("Parametric Map transfer syntax must be lossless")
    if float_pixels:
        pixels: NDArray[np.generic] = heat
        slope, syntax = 1.0, ExplicitVRLittleEndian
        mappings = _mappings(info, 1.0, (0.0, max(1.0, float(heat.max()))))
    else:
        slope, syntax = quantisation_slope(heat), UID(transfer_syntax_uid)
        pixels = np.minimum(np.rint(heat / slope), _MAX_STORED).astype(np.uint16)
        mappings = _mappings(info, slope, (0, _MAX_STORED))
    # The float map is another object than the 16-bit one: its own UIDs.
    series_uid, sop_uid = object_uids(series, info, "pm-float" if float_pixels else "pm")
    method = method_concept(info.method)
    try:
        pm = hd.pm.ParametricMap(
            source_datasets(series), in_source_order(series, pixels), series_uid,
            series_number(series.headers[0], "pm"),
            sop_uid, 1, "medcam", info.model_name[:64],
            software_versions(info),  # type: ignore[arg-type]
            info.model_sha256, False, mappings,
            voi_lut_transformations=[hd.VOILUTTransformation(
                window_center=0.5 / slope, window_width=1.0 / slope)],
            transfer_syntax_uid=syntax, content_label="HEATMAP",
            content_description="AI heatmap, not for diagnostic use",
            derivation=method)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ExportError(f"Parametric Map export failed ({type(exc).__name__})") from exc
    finalize(pm, series, info, "pm")
    return pm
