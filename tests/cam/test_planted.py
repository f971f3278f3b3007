"""Planted feature: a hand-weighted cube detector; every class-specific method must find
the cube within one feature cell, over many random placements, in 2D and 3D."""

from __future__ import annotations

import pytest
import torch

from medcam import cam
from medcam.synthetic.planted import CUBE, planted_batch, planted_model

CLASS_SPECIFIC = [m for m in cam.available() if m != "eigencam"]
PLACEMENTS = 50


def _distance_to_cube(maps: torch.Tensor, corners: torch.Tensor) -> torch.Tensor:
    """Chebyshev distance (voxels) from each map's argmax to its cube (0 inside)."""
    _n, *spatial = maps.shape
    flat = maps.flatten(1).argmax(dim=1)
    peak = torch.stack(torch.unravel_index(flat, tuple(spatial)), dim=1)
    below = (corners - peak).clamp(min=0)
    above = (peak - (corners + CUBE - 1)).clamp(min=0)
    return (below + above).amax(dim=1)


@pytest.fixture(scope="module", params=[2, 3], ids=["2d", "3d"])
def planted(request: pytest.FixtureRequest) -> tuple:
    dims = request.param
    model = planted_model(dims)
    x, corners = planted_batch(dims, PLACEMENTS, seed=dims)
    assert (model(x).argmax(dim=1) == 1).all(), "the planted model must detect every cube"
    return model, x, corners


@pytest.mark.parametrize("method", CLASS_SPECIFIC)
def test_map_peak_on_the_cube(method: str, planted: tuple) -> None:
    model, x, corners = planted
    result = cam.create(method, model).compute(x, target=1)
    assert result.target_layers == ("1",)
    cell = max(s / f for s, f in zip(x.shape[2:], result.feature_shape, strict=True))
    dist = _distance_to_cube(result.maps, corners)
    assert (dist <= cell).all(), f"{method}: {int((dist > cell).sum())} misses, max {dist.max()}"


def test_fgcam_is_finer_than_gradcam(planted: tuple) -> None:
    model, x, corners = planted
    fine = cam.create("fgcam", model).compute(x, 1)
    coarse = cam.create("gradcam", model).compute(x, 1)
    assert fine.feature_shape == tuple(x.shape[2:])  # propagated to the input
    assert all(f > c for f, c in zip(fine.feature_shape, coarse.feature_shape, strict=True))
    # at input resolution the peak lies on the cube itself (1 voxel tolerance)
    assert (_distance_to_cube(fine.maps, corners) <= 1).all()
    # and most of the map's mass is on the cube, much more than Grad-CAM's
    def mass(maps: torch.Tensor) -> float:
        inside = torch.zeros_like(maps, dtype=torch.bool)
        for i, corner in enumerate(corners.tolist()):
            inside[(i, *(slice(c, c + CUBE) for c in corner))] = True
        return float((maps * inside).sum() / maps.sum())
    assert mass(fine.maps) > 1.5 * mass(coarse.maps)
