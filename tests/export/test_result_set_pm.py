"""Parametric Map of the result set: values, quantisation, geometry, coding."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless

from medcam.errors import ExportError
from medcam.export.pm import build_parametric_map, quantisation_slope
from medcam.export.write import write_object
from tests.export._results import (
    GEOMETRIES,
    INFO_CAL,
    blob_map,
    frame_sources,
    quantisation_step,
    real_world_by_slice,
    source_key,
    synthetic_series,
)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("pm-sources")
    return {name: synthetic_series(root, name, **kw) for name, kw in GEOMETRIES.items()}


def _write(ds, tmp_path, name="PM.dcm"):
    return write_object(ds, tmp_path, name, "pm").path


@pytest.mark.parametrize("case", GEOMETRIES)
def test_uint16_real_world_values_within_half_a_step(sources, case, tmp_path):
    series = sources[case]
    values = blob_map(series.array.shape, amplitude=1.7)  # calibrated: above 1 allowed
    pm = build_parametric_map(series, values, INFO_CAL, float_pixels=False)
    assert pm.file_meta.TransferSyntaxUID == JPEGLSLossless
    assert pm.BitsAllocated == 16 and "PixelData" in pm
    step = quantisation_step(pm)
    assert values.max() > 1.0
    assert step == pytest.approx(float(values.max()) / 65535, rel=1e-6)
    read = real_world_by_slice(_write(pm, tmp_path), series)
    err = np.abs(read - values)
    assert err.max() <= step / 2 * (1 + 1e-6)
    assert err.max() > 0  # really quantised, not float


@pytest.mark.parametrize("case", GEOMETRIES)
def test_float_pixels_are_exact(sources, case, tmp_path):
    series = sources[case]
    values = blob_map(series.array.shape, amplitude=0.8)
    pm = build_parametric_map(series, values, INFO_CAL)  # the default
    assert pm.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert "FloatPixelData" in pm and pm.BitsAllocated == 32
    read = real_world_by_slice(_write(pm, tmp_path), series)
    np.testing.assert_array_equal(read.astype(np.float32), values)


@pytest.mark.parametrize("case", GEOMETRIES)
def test_every_frame_has_its_source_slice_geometry(sources, case, tmp_path):
    series = sources[case]
    pm = pydicom.dcmread(_write(build_parametric_map(series, blob_map(series.array.shape),
                                                     INFO_CAL), tmp_path))
    refs = frame_sources(pm)
    assert sorted(refs, key=str) == sorted({source_key(series, k) for k in
                                            range(len(refs))}, key=str)
    assert len(refs) == series.array.shape[0]
    shared = pm.SharedFunctionalGroupsSequence[0]
    iop = [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient]
    measures = shared.PixelMeasuresSequence[0]
    geo = series.geometry
    np.testing.assert_allclose(iop, [*geo.direction_matrix[:, 2], *geo.direction_matrix[:, 1]],
                               atol=1e-6)
    np.testing.assert_allclose([float(v) for v in measures.PixelSpacing], geo.spacing[1:],
                               atol=1e-9)
    assert float(measures.SliceThickness) == pytest.approx(geo.spacing[0])
    by_key = {source_key(series, k): k for k in range(series.array.shape[0])}
    for group, ref in zip(pm.PerFrameFunctionalGroupsSequence, refs, strict=True):
        k = by_key[ref]
        ipp = [float(v) for v in group.PlanePositionSequence[0].ImagePositionPatient]
        np.testing.assert_allclose(ipp, geo.index_to_lps((k, 0, 0)), atol=1e-4)
        header = series.headers[k]
        if "ImagePositionPatient" in header:  # single-frame: equal to the source's values
            assert ipp == [float(v) for v in header.ImagePositionPatient]
            assert iop == [float(v) for v in header.ImageOrientationPatient]
            assert [float(v) for v in measures.PixelSpacing] == [
                float(v) for v in header.PixelSpacing]
            assert float(measures.SliceThickness) == float(header.SliceThickness)


def test_real_world_mappings_record_scale_and_raw_units(sources):
    series = sources["axial"]
    values = blob_map(series.array.shape, amplitude=1.2)
    pm = build_parametric_map(series, values, INFO_CAL, float_pixels=False)
    shared = pm.SharedFunctionalGroupsSequence[0]
    first, raw = shared.RealWorldValueMappingSequence
    slope = quantisation_slope(values)
    assert float(first.RealWorldValueSlope) == slope and float(first.RealWorldValueIntercept) == 0
    assert float(raw.RealWorldValueSlope) == pytest.approx(slope * INFO_CAL.scale.value)
    assert "0.02" in raw.LUTExplanation and raw.LUTLabel == "RAW"
    for item in (first, raw):
        unit = item.MeasurementUnitsCodeSequence[0]
        assert (unit.CodeValue, unit.CodingSchemeDesignator) == ("1", "UCUM")
    voi = shared.FrameVOILUTSequence[0]
    centre, width = float(voi.WindowCenter), float(voi.WindowWidth)
    assert (centre - width / 2) * slope == pytest.approx(0.0, abs=1e-9)
    assert (centre + width / 2) * slope == pytest.approx(1.0)


def test_label_derivation_and_references(sources):
    series = sources["axial"]
    pm = build_parametric_map(series, blob_map(series.array.shape), INFO_CAL)
    assert pm.ContentLabel == "HEATMAP"
    assert pm.Manufacturer == "medcam" and pm.DeviceSerialNumber == INFO_CAL.model_sha256
    assert pm.SeriesDescription.startswith("AI heatmap (not for diagnostic use) map gradcam")
    derivation = pm.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0]
    code = derivation.DerivationCodeSequence[0]
    assert (code.CodeValue, code.CodingSchemeDesignator) == ("130403", "DCM")
    assert pm.StudyInstanceUID == series.study_instance_uid
    assert pm.FrameOfReferenceUID == series.headers[0].FrameOfReferenceUID
    assert int(pm.SeriesNumber) == int(series.headers[0].SeriesNumber) + 2000


def test_rejects_negative_and_misshaped_maps_and_projections(sources, projection_factory):
    series = sources["axial"]
    with pytest.raises(ExportError, match=">= 0"):
        build_parametric_map(series, -blob_map(series.array.shape), INFO_CAL)
    with pytest.raises(ExportError, match="shape"):
        build_parametric_map(series, blob_map((1, 2, 3)), INFO_CAL)
    dx = projection_factory().series
    with pytest.raises(ExportError, match="patient geometry"):
        build_parametric_map(dx, blob_map(dx.array.shape), INFO_CAL)


def test_quantisation_slope_covers_the_range():
    assert quantisation_slope(np.zeros((1, 2, 2), np.float32)) == 1 / 65535
    assert quantisation_slope(np.full((1, 2, 2), 3.0, np.float32)) == 3 / 65535


def test_float_default_carries_the_scale_in_pixels_and_mappings(sources, tmp_path):
    series = sources["axial"]
    values = blob_map(series.array.shape, amplitude=1.2)
    pm = build_parametric_map(series, values, INFO_CAL)
    first, raw = pm.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence
    assert (float(first.RealWorldValueSlope), float(raw.RealWorldValueSlope)) == (
        1.0, pytest.approx(INFO_CAL.scale.value))
    voi = pm.SharedFunctionalGroupsSequence[0].FrameVOILUTSequence[0]
    assert (float(voi.WindowCenter), float(voi.WindowWidth)) == (0.5, 1.0)


def test_uint16_jpeg_ls_is_the_compact_option(sources, tmp_path):
    """The 16-bit JPEG-LS pixel data is several times smaller than the float32 default's."""
    series = sources["axial"]
    values = blob_map(series.array.shape, amplitude=0.9)
    flt = pydicom.dcmread(_write(build_parametric_map(series, values, INFO_CAL), tmp_path))
    small = pydicom.dcmread(_write(build_parametric_map(series, values, INFO_CAL,
                                                        float_pixels=False), tmp_path, "I.dcm"))
    assert len(flt.FloatPixelData) == values.size * 4
    assert len(small.PixelData) * 3 < len(flt.FloatPixelData)
