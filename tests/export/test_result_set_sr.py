"""TID 1500 SR and Key Object Selection of the result set: content and references."""

from __future__ import annotations

from collections.abc import Iterator

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from medcam.errors import ExportError
from medcam.export.codes import METHOD_CODES, procedure_code
from medcam.export.ko import build_key_objects, hottest_slices
from medcam.export.sr import build_sr
from medcam.export.types import HeatmapInfo
from tests.export._results import (
    GEOMETRIES,
    INFO_CAL,
    NODULE,
    blob_map,
    build_set,
    synthetic_series,
)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sr-sources")
    return {name: synthetic_series(root, name, **kw) for name, kw in GEOMETRIES.items()}


def _items(ds: Dataset) -> Iterator[Dataset]:
    for item in ds.get("ContentSequence", ()):
        yield item
        yield from _items(item)


def _name(item: Dataset) -> tuple[str, str]:
    code = item.ConceptNameCodeSequence[0]
    return code.CodeValue, code.CodingSchemeDesignator


def _referenced_uids(ds: Dataset) -> set[str]:
    return {ref.ReferencedSOPInstanceUID for item in _items(ds)
            for ref in item.get("ReferencedSOPSequence", ())}


def _evidence_uids(ds: Dataset) -> set[str]:
    return {ins.ReferencedSOPInstanceUID
            for study in ds.CurrentRequestedProcedureEvidenceSequence
            for series in study.ReferencedSeriesSequence
            for ins in series.ReferencedSOPSequence}


@pytest.mark.parametrize("case", ["axial", "oblique", "enhanced-multiframe"])
def test_sr_reports_finding_probability_method_and_peak(sources, case, tmp_path):
    series = sources[case]
    values = blob_map(series.array.shape, amplitude=1.2)
    result = build_set(series, values, INFO_CAL, tmp_path)
    sr = hd.sr.srread(result.records["sr"].path)
    report = sr.content
    (planar,) = report.get_planar_roi_measurement_groups()
    (volumetric,) = report.get_volumetric_roi_measurement_groups()
    assert planar.finding_type.value == NODULE[0] == volumetric.finding_type.value
    point = planar.roi
    assert point.GraphicType == "POINT"
    np.testing.assert_allclose(np.asarray(point.GraphicData, float),
                               series.geometry.index_to_lps(result.peak), atol=1e-3)
    assert point.ReferencedFrameOfReferenceUID == result.pm.FrameOfReferenceUID
    for group in (planar, volumetric):
        (prob,) = group.get_measurements()
        assert (prob.name.value, prob.name.scheme_designator) == ("122157", "DCM")
        assert float(prob.value) == pytest.approx(INFO_CAL.probability)
        assert prob.unit.value == "1"
        assert group.method.value == "130403"
    seg_ref = volumetric.referenced_segment[0].ReferencedSOPSequence[0]
    assert seg_ref.ReferencedSOPInstanceUID == result.seg.SOPInstanceUID
    assert seg_ref.ReferencedSegmentNumber == 1
    ds = pydicom.dcmread(result.records["sr"].path)
    procedure = [i for i in _items(ds) if _name(i) == ("121058", "DCM")]
    chest = series.headers[0].get("BodyPartExamined") == "CHEST"  # the enhanced writer has none
    assert procedure[0].ConceptCodeSequence[0].CodeValue == ("24627-2" if chest else "25045-6")
    texts = {i.TextValue for i in _items(ds) if i.ValueType == "TEXT"}
    assert f"weights sha256 {INFO_CAL.model_sha256}" in texts
    assert "target layers features.denseblock1" in texts
    assert {"scale mode calibrated", "scale value 0.02", "method gradcam"} <= texts


@pytest.mark.parametrize("case", ["axial", "enhanced-multiframe"])
def test_sr_references_resolve_to_the_set_and_evidence_is_complete(sources, case, tmp_path):
    series = sources[case]
    result = build_set(series, blob_map(series.array.shape), INFO_CAL, tmp_path)
    ds = pydicom.dcmread(result.records["sr"].path)
    in_set = {result.pm.SOPInstanceUID, result.seg.SOPInstanceUID, *series.sop_instance_uids}
    referenced = _referenced_uids(ds)
    assert result.pm.SOPInstanceUID in referenced and result.seg.SOPInstanceUID in referenced
    assert series.sop_instance_uids[result.peak[0]] in referenced
    assert referenced <= in_set
    assert _evidence_uids(ds) == in_set  # every referenced instance, and all sources
    pm_refs = [ref for i in _items(ds) for ref in i.get("ReferencedSOPSequence", ())
               if ref.ReferencedSOPInstanceUID == result.pm.SOPInstanceUID]
    frame = int(pm_refs[0].ReferencedFrameNumber)
    src = result.pm.PerFrameFunctionalGroupsSequence[frame - 1].DerivationImageSequence[0]
    assert src.SourceImageSequence[0].ReferencedSOPInstanceUID == series.sop_instance_uids[
        result.peak[0]]
    assert ds.StudyInstanceUID == series.study_instance_uid
    assert ds.CompletionFlag == "COMPLETE" and ds.VerificationFlag == "UNVERIFIED"
    assert "1.2.840.10008.5.1.4.1.1.67" not in {  # no TID 1411 RWVM item naming the PM
        ref.ReferencedSOPClassUID for i in _items(ds) for ref in i.get("ReferencedSOPSequence",
                                                                          ())}


def test_sr_without_seg_keeps_the_point_and_probability(sources, tmp_path):
    series = sources["axial"]
    values = blob_map(series.array.shape, amplitude=0.4)
    result = build_set(series, values, INFO_CAL, tmp_path)
    assert result.seg is None and "seg" not in result.records
    report = hd.sr.srread(result.records["sr"].path).content
    assert len(report.get_planar_roi_measurement_groups()) == 1
    assert report.get_volumetric_roi_measurement_groups() == []
    assert _evidence_uids(pydicom.dcmread(result.records["sr"].path)) == {
        result.pm.SOPInstanceUID, *series.sop_instance_uids}


def test_sr_default_finding_and_bad_peak(sources, tmp_path):
    series = sources["axial"]
    values = blob_map(series.array.shape)
    result = build_set(series, values, INFO_CAL, tmp_path)
    sr = build_sr(series, INFO_CAL, pm=result.pm, seg=None, peak_index=(0, 0, 0))
    (planar,) = hd.sr.Comprehensive3DSR.from_dataset(
        sr).content.get_planar_roi_measurement_groups()
    assert planar.finding_type.value == "404684003"
    with pytest.raises(ExportError, match="outside"):
        build_sr(series, INFO_CAL, pm=result.pm, seg=None, peak_index=(99, 0, 0))


def test_procedure_codes():
    assert procedure_code("CT", "CHEST").value == "24627-2"
    assert procedure_code("DX", "CHEST").value == "399208008"
    assert procedure_code("MR", "HEAD").value == "25056-3"
    assert procedure_code("CT", "").value == "25045-6"
    assert procedure_code("US", "").value == "363679005"


def test_every_registered_method_has_a_cid217_code():
    from medcam.cam.registry import available

    assert set(METHOD_CODES) == set(available())
    assert {c.value for c in METHOD_CODES.values()} <= {"130402", "130403"}


@pytest.mark.parametrize("case", ["axial", "sagittal", "enhanced-multiframe"])
def test_kos_lists_the_k_hottest_slices_and_the_given_objects(sources, case, tmp_path):
    series = sources[case]
    n = series.array.shape[0]
    levels = np.array([0.2, 0.9, 0.1, 0.7, 0.5][:n], np.float32)
    values = blob_map(series.array.shape, amplitude=1.0) * 0 + levels[:, None, None]
    result = build_set(series, values, INFO_CAL, tmp_path)
    assert hottest_slices(values, 3) == [1, 3, 4]
    ds = pydicom.dcmread(result.records["ko"].path)
    hd.ko.KeyObjectSelectionDocument.from_dataset(ds)
    title = ds.ConceptNameCodeSequence[0]
    assert (title.CodeValue, title.CodingSchemeDesignator) == ("113000", "DCM")
    refs = [ref for item in ds.ContentSequence for ref in item.get("ReferencedSOPSequence", ())]
    keys = [series.sop_instance_uids[q] for q in (1, 3, 4)]
    if series.frame_numbers[0] is None:
        images = [r.ReferencedSOPInstanceUID for r in refs
                  if r.ReferencedSOPInstanceUID in series.sop_instance_uids]
        assert images == keys
    else:
        (image,) = [r for r in refs if r.ReferencedSOPInstanceUID == keys[0]]
        assert sorted(int(f) for f in image.ReferencedFrameNumber) == sorted(
            series.frame_numbers[q] for q in (1, 3, 4))
    others = {r.ReferencedSOPInstanceUID for r in refs} - set(series.sop_instance_uids)
    assert others == {result.pm.SOPInstanceUID, result.sr.SOPInstanceUID}
    texts = [i.TextValue for i in ds.ContentSequence if i.ValueType == "TEXT"]
    assert any("medcam" in t and "not for diagnosis" in t for t in texts)
    assert _evidence_uids(ds) == {*keys, result.pm.SOPInstanceUID, result.sr.SOPInstanceUID}


def test_kos_of_a_projection_and_bad_k(projection_factory):
    dx = projection_factory().series
    info = HeatmapInfo(**{**INFO_CAL.__dict__, "model_name": "demo-dx2d"})
    ko = build_key_objects(dx, blob_map(dx.array.shape), info, k=3)
    refs = [r.ReferencedSOPInstanceUID for item in ko.ContentSequence
            for r in item.get("ReferencedSOPSequence", ())]
    assert refs == [dx.sop_instance_uids[0]]
    with pytest.raises(ExportError, match="k >= 1"):
        build_key_objects(dx, blob_map(dx.array.shape), info, k=0)
