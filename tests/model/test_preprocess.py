"""Model grid, resampling onto it and the exact inverse back onto the source grid."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from medcam.geometry import Geometry
from medcam.model.grid import model_grid
from medcam.model.load import resolve_spec
from medcam.model.preprocess import map_to_source, prepare
from medcam.series.types import Series
from medcam.synthetic.cases import PLANES, make_geometry

SPEC = resolve_spec("demo-ct3d")


def _plane_geometry(plane: str, descending: bool, slice_mm: float, pixels: tuple[float, float]
                    ) -> Geometry:
    row, col = (np.asarray(v) for v in PLANES[plane])
    normal = np.cross(row, col) * (-1 if descending else 1)
    direction = np.stack([normal, col, row], axis=1)
    return make_geometry(direction, np.array([3.0, -7.0, 11.0]), (120.0, 140.0, 130.0),
                         (slice_mm, *pixels))


GEOMETRIES = [
    pytest.param(_plane_geometry(p, d, s, px), id=f"{p}-{'desc' if d else 'asc'}-{s}-{px}")
    for p, d, s, px in itertools.product(
        ("axial", "sagittal", "coronal"), (False, True), (2.0, 3.5),
        ((1.0, 1.0), (0.8, 1.3)))
]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_point_source_lands_within_half_a_voxel(geometry):
    """B-9: a hot model-grid voxel maps to the source voxel nearest the same LPS point."""
    grid = model_grid(SPEC, geometry)
    rng = np.random.default_rng(abs(hash(geometry.spacing)) % 1000)
    for _ in range(3):
        # a grid voxel well inside the source field of view
        point = geometry.index_to_lps((np.asarray(geometry.shape) - 1) *
                                      rng.uniform(0.3, 0.7, 3))
        index = np.round(grid.lps_to_index(point)).astype(int)
        hot = np.zeros(grid.shape, dtype=np.float32)
        hot[tuple(index)] = 1.0
        mapped = map_to_source(hot, grid, geometry)
        peak = np.unravel_index(int(np.argmax(mapped)), mapped.shape)
        expected = geometry.lps_to_index(grid.index_to_lps(index))
        assert np.all(np.abs(np.asarray(peak) - expected) <= 0.5 + 1e-6), (peak, expected)


@pytest.mark.parametrize("geometry", GEOMETRIES[::5])
def test_linear_field_round_trips(geometry):
    """A field linear in LPS, resampled onto the grid and back, keeps its values."""
    grid = model_grid(SPEC, geometry)
    a = np.array([0.01, -0.02, 0.015])
    values = (grid.voxel_centers() @ a).astype(np.float32)
    mapped = map_to_source(values, grid, geometry)
    expected = geometry.voxel_centers() @ a
    assert np.abs(mapped - expected).max() < 1e-4


def test_prepare_places_a_bright_point_where_it_is_in_the_patient():
    geometry = _plane_geometry("sagittal", True, 2.0, (0.8, 1.3))
    array = np.full(geometry.shape, -1000.0, dtype=np.float32)
    k, i, j = (np.asarray(geometry.shape) * np.array([0.4, 0.55, 0.6])).astype(int)
    array[k - 2:k + 3, i - 3:i + 4, j - 2:j + 3] = 400.0
    n = geometry.shape[0]
    series = Series(array, geometry, "1.2", "1.2.3", "1.2.840.10008.5.1.4.1.1.2", "CT",
                    tuple(f"1.2.3.{s}" for s in range(n)), (None,) * n, (None,) * n)
    model_input = prepare(series, SPEC)
    assert tuple(model_input.tensor.shape) == (1, 1, *SPEC.input_size)
    x = model_input.tensor[0, 0].numpy()
    peak = np.unravel_index(int(np.argmax(x)), x.shape)
    peak_lps = model_input.grid.index_to_lps(np.asarray(peak, dtype=float))
    blob_lps = geometry.index_to_lps(np.array([k, i, j], dtype=float))
    assert np.linalg.norm(peak_lps - blob_lps) <= max(SPEC.input_spacing) * np.sqrt(3) / 2 + 1e-6
    assert x.min() == 0.0  # air maps to the bottom of the HU window


def test_2d_grid_lies_in_the_image_plane():
    geometry = Geometry((1, 200, 180), (1.0, 1.4, 1.4), (10.0, 20.0, 0.0),
                        (0, 0, 1, 0, 1, 0, 1, 0, 0))
    spec = resolve_spec("demo-dx2d")
    grid = model_grid(spec, geometry)
    assert grid.shape == (1, *spec.input_size)
    assert np.allclose(grid.center, geometry.center)
    assert np.allclose(grid.direction_matrix, geometry.direction_matrix)
