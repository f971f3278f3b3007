"""Comprehensive 3D SR, root TID 1500 "Imaging Measurement Report", of one explanation.

Content (highdicom :class:`~highdicom.sr.MeasurementReport`):

* observer: the device ``medcam`` (TID 1004), model name as Device Model Name;
* Procedure Reported: the imaging procedure of the source series
  (:func:`medcam.export.codes.procedure_code`), not the algorithm (IHE AIR);
* one planar group (TID 1410) with a SCOORD3D POINT at the map's peak voxel, so
  viewers that draw only coordinates (OHIF) show the finding; it references the
  peak source slice and the Parametric Map frame of that slice as images (never
  through the TID 1411 Real World Value Map item, which names a different SOP
  class);
* one volumetric group (TID 1411) referencing segment 1 of the SEG, omitted when
  there is no SEG (empty region);
* in each group: Finding = the caller's class code, Measurement Method = the CID 217
  concept of the CAM method (the group's region was derived by it), Algorithm
  Identification = model name, version and parameters (medcam version, weights
  sha256, method, target class, target layers, scale mode and value), and the
  model's probability of the finding as NUM DCM 122157 "Probability", UCUM ``1``.

Evidence lists every referenced instance (source images, PM, SEG), so the Current
Requested Procedure Evidence Sequence is complete. The document is COMPLETE and
UNVERIFIED; identity, dates and patient context as in
:mod:`medcam.export._resultset`.
"""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from medcam.errors import ExportError
from medcam.export._resultset import (
    finalize,
    for_highdicom,
    identity,
    object_uids,
    series_number,
    source_datasets,
)
from medcam.export.codes import (
    DEFAULT_FINDING,
    NO_UNITS,
    PROBABILITY,
    method_concept,
    procedure_code,
)
from medcam.export.types import HeatmapInfo
from medcam.export.uids import derive_uid
from medcam.series.types import Series

__all__ = ["algorithm_identification", "build_sr", "frame_of_source", "observer_context"]


def algorithm_identification(info: HeatmapInfo) -> hd.sr.AlgorithmIdentification:
    """TID 4019 Algorithm Identification of the model and the explanation method."""
    scale = "none" if info.scale is None else f"{info.scale.value:.9g}"
    parameters = [f"medcam {info.software_version}", f"weights sha256 {info.model_sha256}",
                  f"method {info.method}", f"target {info.target_class}",
                  f"target layers {','.join(info.target_layers) or 'default'}",
                  f"scale mode {info.scale_mode}", f"scale value {scale}"]
    return hd.sr.AlgorithmIdentification(name=info.model_name, version=info.model_version,
                                         parameters=parameters, manufacturer="medcam")


def observer_context(info: HeatmapInfo, series: Series) -> hd.sr.ObservationContext:
    """TID 1002 observation context: the medcam device that made the explanation."""
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=derive_uid("device", *identity(series, info)), name="medcam",
        manufacturer_name="medcam", model_name=info.model_name[:64])
    return hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Device, observer_identifying_attributes=device))


def frame_of_source(image: Dataset, sop_instance_uid: str, frame_number: int | None) -> int:
    """1-based frame of a multi-frame derived image whose source is the given slice.

    Raises:
        ExportError: if no frame references it.

    """
    for number, group in enumerate(image.PerFrameFunctionalGroupsSequence, start=1):
        for derivation in group.get("DerivationImageSequence", ()):
            for ref in derivation.get("SourceImageSequence", ()):
                frames = [int(f) for f in np.atleast_1d(ref.get("ReferencedFrameNumber") or [])]
                if ref.ReferencedSOPInstanceUID == sop_instance_uid and (
                        frame_number is None or frame_number in frames):
                    return number
    raise ExportError("no derived frame references the peak slice")


def _point(series: Series, peak_index: tuple[int, int, int]) -> hd.sr.ImageRegion3D:
    if len(peak_index) != 3 or any(not 0 <= int(v) < n
                                   for v, n in zip(peak_index, series.array.shape, strict=True)):
        raise ExportError("peak index lies outside the series grid")
    if not series.has_patient_geometry:
        raise ExportError("the SR point needs a source with patient geometry")
    uid = series.geometry.frame_of_reference_uid or series.headers[0].get("FrameOfReferenceUID")
    if not uid:
        raise ExportError("the SR point needs a Frame of Reference UID")
    lps = np.asarray(series.geometry.index_to_lps(tuple(int(v) for v in peak_index)), float)
    return hd.sr.ImageRegion3D(graphic_type=hd.sr.GraphicTypeValues3D.POINT,
                               graphic_data=lps.reshape(1, 3), frame_of_reference_uid=str(uid))


def _segment(seg: Dataset, series: Series) -> hd.sr.ReferencedSegment:
    """Segment 1 of ``seg``, derived from the source series.

    Built directly: highdicom 0.28's ``ReferencedSegment.from_segmentation`` expects
    Segment Identification per frame, which its own one-segment SEGs keep in the
    shared functional groups.
    """
    return hd.sr.ReferencedSegment(
        sop_class_uid=str(seg.SOPClassUID), sop_instance_uid=str(seg.SOPInstanceUID),
        segment_number=1,
        source_series=hd.sr.SourceSeriesForSegmentation(series.series_instance_uid))


def build_sr(series: Series, info: HeatmapInfo, *, pm: Dataset, seg: Dataset | None,
             peak_index: tuple[int, int, int],
             finding: tuple[str, str, str] | None = None) -> hd.sr.Comprehensive3DSR:
    """Build the TID 1500 report of one explanation.

    Args:
        series: the source series.
        info: model, method, class, probability and scale.
        pm: the Parametric Map of the same explanation (referenced as an image).
        seg: its Segmentation, or ``None`` (empty region: no volumetric group).
        peak_index: (slice, row, column) voxel of the map's maximum.
        finding: the finding's ``(code value, coding scheme designator, code
            meaning)``, e.g. from the model spec's class coding; SCT 404684003
            "Finding" if ``None``.

    Returns:
        The Comprehensive 3D SR.

    Raises:
        ExportError: on an invalid peak, a source without patient geometry or a
            Frame of Reference, or when highdicom rejects the content.

    """
    point = _point(series, peak_index)
    k = int(peak_index[0])
    finding_code = DEFAULT_FINDING if finding is None else Code(*finding)
    method, algorithm = method_concept(info.method), algorithm_identification(info)
    header = for_highdicom(series.headers[k])
    try:
        pm_frame = frame_of_source(pm, series.sop_instance_uids[k], series.frame_numbers[k])
        slice_ref = hd.sr.SourceImageForMeasurement.from_source_image(
            header, None if (n := series.frame_numbers[k]) is None else [n])
        pm_ref = hd.sr.SourceImageForMeasurement.from_source_image(pm, [pm_frame])

        def probability() -> hd.sr.Measurement:
            return hd.sr.Measurement(name=PROBABILITY, value=info.probability, unit=NO_UNITS,
                                     algorithm_id=algorithm, referenced_images=[slice_ref, pm_ref])

        groups: list[hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations
                     | hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations] = [
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=derive_uid("sr-peak", *identity(series, info)),
                    identifier="medcam heatmap peak"),
                referenced_region=point, finding_type=finding_code, method=method,
                algorithm_id=algorithm, measurements=[probability()])]
        if seg is not None:
            groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=derive_uid("sr-region", *identity(series, info)),
                    identifier="medcam heatmap region"),
                referenced_segment=_segment(seg, series),
                finding_type=finding_code, method=method, algorithm_id=algorithm,
                measurements=[probability()]))
        report = hd.sr.MeasurementReport(
            observation_context=observer_context(info, series),
            procedure_reported=procedure_code(series.modality,
                                              str(series.headers[0].get("BodyPartExamined", ""))),
            imaging_measurements=groups)
        series_uid, sop_uid = object_uids(series, info, "sr")
        evidence: Sequence[Dataset] = [*source_datasets(series), pm,
                                       *([seg] if seg is not None else [])]
        sr = hd.sr.Comprehensive3DSR(
            evidence=evidence, content=report, series_instance_uid=series_uid,
            series_number=series_number(series.headers[0], "sr"), sop_instance_uid=sop_uid,
            instance_number=1, manufacturer="medcam", is_complete=True)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ExportError(f"SR export failed ({type(exc).__name__})") from exc
    finalize(sr, series, info, "sr")
    return sr

