"""ROAD: stencils, noisy linear imputation and MoRF/LeRF against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medcam.audit.errors import AuditError
from medcam.audit.metrics import imputation, noisy_linear_impute, road, road_removed, stencil


def test_stencil_weights():
    w2 = dict(stencil(2))
    assert w2[(0, 1)] == pytest.approx(1 / 6)
    assert w2[(1, 1)] == pytest.approx(1 / 12)
    assert dict(stencil(2, 4))[(1, 0)] == pytest.approx(1 / 4)
    w3 = dict(stencil(3))
    assert len(w3) == 26
    assert w3[(0, 0, 1)] == pytest.approx(3 / 44)
    assert w3[(0, 1, 1)] == pytest.approx(3 / 88)
    assert w3[(1, 1, 1)] == pytest.approx(1 / 44)
    assert dict(stencil(3, 6))[(1, 0, 0)] == pytest.approx(1 / 6)
    with pytest.raises(AuditError):
        stencil(3, 8)


def _centre_removed(shape: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(s // 2 for s in shape)] = True
    return mask


@pytest.mark.parametrize(("neighbour", "nb", "expected"), [
    ((1, 2), 8, 1 / 6), ((0, 0), 8, 1 / 12), ((0, 1), 4, 1 / 4), ((0, 0), 4, 0.0),
])
def test_single_voxel_is_weighted_neighbour_mean_2d(neighbour, nb, expected):
    x = torch.zeros(1, 3, 3)
    x[(0, *neighbour)] = 1.0
    out = noisy_linear_impute(x, _centre_removed((3, 3)), neighbourhood=nb, noise_std=0.0)
    assert out[0, 1, 1].item() == pytest.approx(expected, abs=1e-6)
    assert torch.equal(out[0][~torch.from_numpy(_centre_removed((3, 3)))],
                       x[0][~torch.from_numpy(_centre_removed((3, 3)))])


@pytest.mark.parametrize(("neighbour", "nb", "expected"), [
    ((1, 1, 2), 6, 1 / 6), ((0, 0, 0), 26, 1 / 44), ((0, 1, 1), 26, 3 / 44),
])
def test_single_voxel_3d(neighbour, nb, expected):
    x = torch.zeros(1, 3, 3, 3)
    x[(0, *neighbour)] = 1.0
    out = noisy_linear_impute(x, _centre_removed((3, 3, 3)), neighbourhood=nb, noise_std=0.0)
    assert out[0, 1, 1, 1].item() == pytest.approx(expected, abs=1e-6)


def test_coupled_removed_voxels_interpolate_linearly():
    x = torch.tensor([[[0.0, 9.0, 9.0, 3.0]]])  # (C, 1, 4)
    removed = np.array([[False, True, True, False]])
    out = noisy_linear_impute(x, removed, neighbourhood=4, noise_std=0.0)
    assert out[0, 0].tolist() == pytest.approx([0.0, 1.0, 2.0, 3.0], abs=1e-6)


def test_conjugate_gradients_match_direct_solve(monkeypatch):
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.uniform(size=(2, 10, 11, 12)))
    removed = rng.uniform(size=(10, 11, 12)) < 0.6
    direct = noisy_linear_impute(x, removed, neighbourhood=26, noise_std=0.0)
    monkeypatch.setattr(imputation, "DIRECT_MAX", 10)
    iterative = noisy_linear_impute(x, removed, neighbourhood=26, noise_std=0.0)
    assert torch.allclose(direct, iterative, atol=1e-4)


def test_noise_is_added_to_imputed_voxels_only():
    x = torch.full((1, 40, 40), 0.5)
    removed = np.zeros((40, 40), dtype=bool)
    removed[5:35, 5:35] = True
    out = noisy_linear_impute(x, removed, noise_std=0.01, seed=4)
    diff = (out - x)[0].numpy()
    assert np.all(diff[~removed] == 0)
    assert diff[removed].std() == pytest.approx(0.01, rel=0.1)


def test_fully_removed_volume_is_defined():
    x = torch.rand(1, 4, 4)
    out = noisy_linear_impute(x, np.ones((4, 4), dtype=bool), noise_std=0.0)
    assert torch.isfinite(out).all()


def test_road_removed_masks():
    sal = np.arange(10.0).reshape(2, 5)
    most = road_removed(sal, 0.3, most_relevant=True)
    least = road_removed(sal, 0.3, most_relevant=False)
    assert set(np.flatnonzero(most)) == {9, 8, 7}
    assert set(np.flatnonzero(least)) == {0, 1, 2}


def test_road_hand_value_on_a_square_detector():
    x = torch.zeros(1, 6, 6)
    x[0, 2:4, 2:4] = 1.0

    def square_mean(batch: torch.Tensor) -> torch.Tensor:
        return batch[:, 0, 2:4, 2:4].flatten(1).mean(1)

    sal = x[0].numpy().copy()
    result = road(square_mean, x, sal, fractions=(4 / 36,), noise_std=0.0)
    # MoRF removes the square (filled from zeros), LeRF removes 4 far zeros.
    assert result.morf == pytest.approx((0.0,), abs=1e-6)
    assert result.lerf == pytest.approx((1.0,), abs=1e-6)
    assert result.combined == pytest.approx(0.5, abs=1e-6)
    assert result.params["neighbourhood"] == 8


def test_road_3d_good_map_beats_random_map():
    rng = np.random.default_rng(5)
    x = torch.zeros(1, 12, 12, 12)
    x[0, 3:7, 4:8, 5:9] = 1.0

    def blob_mean(batch: torch.Tensor) -> torch.Tensor:
        return batch[:, 0, 3:7, 4:8, 5:9].flatten(1).mean(1)

    good = road(blob_mean, x, x[0].numpy(), fractions=(0.1, 0.5))
    rand = road(blob_mean, x, rng.uniform(size=(12, 12, 12)), fractions=(0.1, 0.5))
    assert good.params["neighbourhood"] == 6
    assert good.morf_mean < rand.morf_mean
    assert good.combined > rand.combined
