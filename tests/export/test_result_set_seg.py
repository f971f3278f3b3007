"""Segmentation of the result set: region, geometry, algorithm, empty region."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest

from medcam.errors import ExportError
from medcam.export.colormap import colorize
from medcam.export.seg import DISPLAY_RGB, build_segmentation, region_mask
from medcam.export.write import write_object
from tests.export._results import (
    GEOMETRIES,
    INFO_CAL,
    blob_map,
    frame_sources,
    source_key,
    synthetic_series,
)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg-sources")
    return {name: synthetic_series(root, name, **kw) for name, kw in GEOMETRIES.items()}


def _mask_by_slice(path, series):
    seg = hd.seg.segread(path)
    if series.frame_numbers[0] is None:
        arr = seg.get_pixels_by_source_instance(list(series.sop_instance_uids),
                                                segment_numbers=[1],
                                                assert_missing_frames_are_empty=True)
    else:
        arr = seg.get_pixels_by_source_frame(series.sop_instance_uids[0],
                                             [int(f) for f in series.frame_numbers],
                                             segment_numbers=[1],
                                             assert_missing_frames_are_empty=True)
    return np.asarray(arr)[..., 0].astype(bool)


@pytest.mark.parametrize("case", GEOMETRIES)
def test_seg_equals_the_thresholded_map_with_source_geometry(sources, case, tmp_path):
    series = sources[case]
    values = blob_map(series.array.shape, amplitude=1.4)
    seg = build_segmentation(series, values, INFO_CAL, threshold=0.6)
    path = write_object(seg, tmp_path, "SEG.dcm", "seg").path
    expected = values >= 0.6
    assert 0 < expected.sum() < expected.size
    np.testing.assert_array_equal(_mask_by_slice(path, series), expected)
    ds = pydicom.dcmread(path)
    by_key = {source_key(series, k): k for k in range(series.array.shape[0])}
    geo = series.geometry
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient]
    np.testing.assert_allclose(iop, [*geo.direction_matrix[:, 2], *geo.direction_matrix[:, 1]],
                               atol=1e-6)
    measures = shared.PixelMeasuresSequence[0]
    np.testing.assert_allclose([float(v) for v in measures.PixelSpacing], geo.spacing[1:])
    assert float(measures.SliceThickness) == pytest.approx(geo.spacing[0])
    refs = frame_sources(ds)
    assert len(refs) == int(expected.reshape(len(expected), -1).any(axis=1).sum())
    for group, ref in zip(ds.PerFrameFunctionalGroupsSequence, refs, strict=True):
        k = by_key[ref]
        ipp = [float(v) for v in group.PlanePositionSequence[0].ImagePositionPatient]
        np.testing.assert_allclose(ipp, geo.index_to_lps((k, 0, 0)), atol=1e-4)
        if "ImagePositionPatient" in series.headers[k]:
            assert ipp == [float(v) for v in series.headers[k].ImagePositionPatient]


def test_segment_is_automatic_with_algorithm_and_threshold(sources):
    series = sources["axial"]
    seg = build_segmentation(series, blob_map(series.array.shape), INFO_CAL, threshold=0.5)
    assert seg.SegmentationType == "BINARY"
    (segment,) = seg.SegmentSequence
    assert segment.SegmentNumber == 1
    assert segment.SegmentAlgorithmType == "AUTOMATIC"
    assert segment.SegmentLabel == "gradcam >= 0.5 calibrated"
    algorithm = segment.SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmName == "demo-ct3d gradcam"
    assert algorithm.AlgorithmFamilyCodeSequence[0].CodeValue == "123110"
    assert "threshold=0.5" in algorithm.AlgorithmParameters
    category = segment.SegmentedPropertyCategoryCodeSequence[0]
    kind = segment.SegmentedPropertyTypeCodeSequence[0]
    assert (category.CodeValue, category.CodingSchemeDesignator) == ("309825002", "SCT")
    assert (kind.CodeValue, kind.CodingSchemeDesignator) == ("C85402", "NCIt")
    assert seg.SeriesDescription.startswith("AI heatmap (not for diagnostic use) region")
    assert int(seg.SeriesNumber) == int(series.headers[0].SeriesNumber) + 3000


def test_segment_recommends_the_colour_scale_at_0_8(sources):
    series = sources["axial"]
    seg = build_segmentation(series, blob_map(series.array.shape), INFO_CAL)
    (segment,) = seg.SegmentSequence
    lab = hd.color.CIELabColor.from_dicom_value(segment.RecommendedDisplayCIELabValue)
    assert DISPLAY_RGB == tuple(int(c) for c in colorize(0.8)) == (244, 92, 23)
    assert np.abs(np.subtract(lab.to_rgb(), DISPLAY_RGB)).max() <= 1


def test_empty_region_gives_no_seg(sources):
    series = sources["axial"]
    values = blob_map(series.array.shape, amplitude=0.49)
    assert not region_mask(values, 0.5).any()
    assert build_segmentation(series, values, INFO_CAL, threshold=0.5) is None
    assert build_segmentation(series, np.zeros(series.array.shape, np.float32), INFO_CAL) is None


def test_rejects_bad_threshold_and_projection(sources, projection_factory):
    series = sources["axial"]
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ExportError, match="threshold"):
            build_segmentation(series, blob_map(series.array.shape), INFO_CAL, threshold=bad)
    dx = projection_factory().series
    with pytest.raises(ExportError, match="patient geometry"):
        build_segmentation(dx, blob_map(dx.array.shape), INFO_CAL)
