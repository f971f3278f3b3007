"""B-8, B-10, B-11: geometry survives write -> read -> SimpleITK -> back."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medcam.geometry import Geometry
from medcam.series import read_series
from medcam.series.sitk import from_sitk, to_sitk
from medcam.synthetic.dicom import write_series

from ._helpers import ORIENTATIONS, dicom_geometry, make_volume, rotation

CASES = list(itertools.product(
    ORIENTATIONS, (False, True), (1.25, 3.0), ((0.7, 0.7), (0.5, 0.8))))


def _ipp(header) -> np.ndarray:
    return np.asarray([float(v) for v in header.ImagePositionPatient])


@pytest.mark.parametrize(("orientation", "descending", "slice_spacing", "pixel_spacing"), CASES,
                         ids=[f"{o}-{'desc' if d else 'asc'}-{s}-{p[0]}x{p[1]}"
                              for o, d, s, p in CASES])
def test_b8_round_trip(tmp_path: Path, orientation: str, descending: bool,
                       slice_spacing: float, pixel_spacing: tuple[float, float]) -> None:
    row, col = ORIENTATIONS[orientation]
    geometry = dicom_geometry(row, col, (slice_spacing, *pixel_spacing), (7, 9, 5))
    volume = make_volume(geometry.shape, seed=3)
    paths = write_series(volume, geometry, tmp_path, descending=descending,
                         uid_seed=f"b8-{orientation}")

    series = read_series(tmp_path)

    assert series.array.shape == geometry.shape
    np.testing.assert_array_equal(series.array, volume.astype(np.float32))
    np.testing.assert_allclose(series.geometry.affine, geometry.affine, rtol=0, atol=1e-6)
    assert series.geometry.frame_of_reference_uid is not None
    assert series.has_patient_geometry
    # slice k of the result is the file written for slice k, whatever its Instance Number
    assert [p.name for p in series.paths] == [p.name for p in paths]
    # slice order is the order of the positions projected on the slice normal
    normal = series.geometry.slice_normal
    projections = [float(_ipp(h) @ normal) for h in series.headers]
    assert projections == sorted(projections)
    assert np.all(np.diff(projections) > 0)
    numbers = [int(h.InstanceNumber) for h in series.headers]
    assert numbers == (sorted(numbers, reverse=True) if descending else sorted(numbers))

    image = to_sitk(series.array, series.geometry)
    array, back = from_sitk(image)
    np.testing.assert_array_equal(array, series.array)
    assert back.shape == series.geometry.shape
    assert back.spacing == series.geometry.spacing
    assert back.origin == series.geometry.origin
    assert back.direction == series.geometry.direction


def test_b10_oblique_spacing(tmp_path: Path) -> None:
    """Normal at 45 degrees in the axial plane, true spacing 2.5 mm."""
    s = np.sqrt(0.5)
    row, col = np.array([s, -s, 0.0]), np.array([0.0, 0.0, -1.0])
    np.testing.assert_allclose(np.cross(row, col), [s, s, 0.0])
    geometry = dicom_geometry(row, col, (2.5, 0.6, 0.6), (20, 6, 6))
    write_series(make_volume(geometry.shape), geometry, tmp_path, uid_seed="b10")

    series = read_series(tmp_path)

    assert series.geometry.spacing[0] == pytest.approx(2.5, abs=1e-3)
    np.testing.assert_allclose(series.geometry.slice_normal, [s, s, 0.0], atol=1e-9)
    # the per-component product MONAI Deploy uses would give about 1.77 mm here
    positions = np.asarray([_ipp(h) for h in series.headers])
    wrong = np.linalg.norm(series.geometry.slice_normal * (positions[1] - positions[0]))
    assert wrong == pytest.approx(2.5 * s, abs=1e-3)


def test_b11_anisotropic_pixels_marker(tmp_path: Path) -> None:
    row, col = (rotation("y", 25) @ v for v in (np.array([1.0, 0, 0]), np.array([0, 1.0, 0])))
    geometry = dicom_geometry(row, col, (2.0, 0.5, 0.8), (4, 12, 9))
    volume = np.full(geometry.shape, -1000.0)
    k, r, c = 2, 7, 3
    volume[k, r, c] = 1000.0
    write_series(volume, geometry, tmp_path, uid_seed="b11")

    series = read_series(tmp_path)

    assert series.geometry.spacing[1:] == (0.5, 0.8)
    found = np.argwhere(series.array == 1000.0)
    assert found.tolist() == [[k, r, c]]
    header = series.headers[k]
    iop = np.asarray([float(v) for v in header.ImageOrientationPatient])
    expected = _ipp(header) + r * 0.5 * iop[3:] + c * 0.8 * iop[:3]
    np.testing.assert_allclose(series.geometry.index_to_lps((k, r, c)), expected, atol=1e-6)
    # swapping the in-plane spacings (the MONAI Deploy hazard) would be 1.6 mm off here
    swapped = _ipp(header) + r * 0.8 * iop[3:] + c * 0.5 * iop[:3]
    assert np.linalg.norm(swapped - expected) > 1.0


def test_stack_against_the_normal_reads_back_flipped(tmp_path: Path) -> None:
    """A geometry whose slice axis is -normal comes back sorted along +normal."""
    row, col = ORIENTATIONS["oblique"]
    base = dicom_geometry(row, col, (2.0, 0.5, 0.8), (5, 6, 4))
    d = base.direction_matrix.copy()
    d[:, 0] *= -1
    geometry = Geometry(base.shape, base.spacing, base.origin, tuple(d.ravel()))
    volume = make_volume(geometry.shape, seed=5)
    write_series(volume, geometry, tmp_path, uid_seed="flip")

    series = read_series(tmp_path)

    np.testing.assert_array_equal(series.array, volume[::-1].astype(np.float32))
    np.testing.assert_allclose(series.geometry.slice_normal, -d[:, 0], atol=1e-9)
    np.testing.assert_allclose(series.geometry.voxel_centers(),
                               geometry.voxel_centers()[::-1], atol=1e-6)


def test_sitk_index_and_physical_point_agree_with_geometry() -> None:
    row, col = ORIENTATIONS["oblique"]
    geometry = dicom_geometry(row, col, (1.5, 0.5, 0.8), (3, 4, 5))
    array = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    image = to_sitk(array, geometry)
    for k, i, j in [(0, 0, 0), (2, 1, 4), (1, 3, 2)]:
        assert image.GetPixel(j, i, k) == array[k, i, j]
        np.testing.assert_allclose(image.TransformIndexToPhysicalPoint((j, i, k)),
                                   geometry.index_to_lps((k, i, j)), atol=1e-9)
    assert image.GetSpacing() == (0.8, 0.5, 1.5)


def test_sitk_rejects_wrong_inputs() -> None:
    geometry = dicom_geometry(*ORIENTATIONS["axial"], (1.0, 1.0, 1.0), (2, 3, 4))
    with pytest.raises(ValueError, match="shape"):
        to_sitk(np.zeros((2, 4, 3)), geometry)
    with pytest.raises(ValueError, match="3-D"):
        from_sitk(sitk.Image(4, 4, sitk.sitkFloat32))
    with pytest.raises(ValueError, match="3-D"):
        from_sitk(sitk.Image([3, 3, 3], sitk.sitkVectorFloat32, 3))
