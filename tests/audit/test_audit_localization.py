"""Localisation metrics against hand-computed values, perfect maps and random maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medcam.audit.errors import AuditError
from medcam.audit.metrics import dilate_mask, energy_pointing_game, overlap, pointing_game


def _square_mask() -> np.ndarray:
    mask = np.zeros((5, 5), dtype=bool)
    mask[1:3, 1:3] = True
    return mask


def test_pointing_hit_and_miss_in_pixels():
    mask = _square_mask()
    sal = np.zeros((5, 5))
    sal[1, 1] = 1.0
    hit = pointing_game(sal, mask)
    assert hit.hit
    assert hit.peak_index == (1, 1)
    assert hit.distance_mm == 0.0
    sal = np.zeros((5, 5))
    sal[4, 4] = 1.0
    miss = pointing_game(sal, mask)
    assert not miss.hit
    assert miss.distance_mm == pytest.approx(np.sqrt(8.0))


def test_pointing_tolerance_uses_anisotropic_spacing():
    mask = _square_mask()
    sal = np.zeros((5, 5))
    sal[4, 4] = 1.0
    # Nearest mask voxel (2, 2): 2 rows of 2 mm and 2 columns of 1 mm -> sqrt(20) mm.
    far = pointing_game(sal, mask, spacing=(2.0, 1.0), tolerance_mm=4.4)
    near = pointing_game(sal, mask, spacing=(2.0, 1.0), tolerance_mm=4.5)
    assert far.distance_mm == pytest.approx(np.sqrt(20.0))
    assert not far.hit
    assert near.hit
    assert near.params == {"tolerance_mm": 4.5, "spacing_mm": [2.0, 1.0]}


def test_dilate_mask_by_mm():
    mask = np.zeros((5, 5), dtype=bool)
    mask[2, 2] = True
    grown = dilate_mask(mask, spacing=(1.0, 2.0), tolerance_mm=2.0)
    # (dr * 1)^2 + (dc * 2)^2 <= 4: five voxels along rows, two along columns.
    expected = {(0, 2), (1, 2), (2, 2), (3, 2), (4, 2), (2, 1), (2, 3)}
    assert set(zip(*np.nonzero(grown), strict=True)) == expected
    assert np.array_equal(dilate_mask(mask, tolerance_mm=0.0), mask)
    with pytest.raises(AuditError):
        dilate_mask(mask, spacing=(1.0,), tolerance_mm=1.0)


def test_energy_pointing_game_hand_value():
    sal = np.array([[1.0, 2.0], [3.0, 4.0]])
    mask = np.array([[1, 0], [0, 1]])
    assert energy_pointing_game(sal, mask) == pytest.approx(0.5)
    assert energy_pointing_game(np.zeros((2, 2)), mask) == 0.0
    assert energy_pointing_game(torch.tensor(sal), mask) == pytest.approx(0.5)


def test_overlap_hand_value():
    sal = np.array([[0.9, 0.6], [0.2, 0.4]])
    mask = np.array([[1, 0], [1, 0]])
    result = overlap(sal, mask, threshold=0.5)
    assert result.iou == pytest.approx(1 / 3)
    assert result.dice == pytest.approx(0.5)
    assert result.threshold == 0.5


def test_shape_mismatch_and_empty_mask_raise():
    with pytest.raises(AuditError):
        energy_pointing_game(np.ones((2, 2)), np.ones((3, 3)))
    with pytest.raises(AuditError):
        pointing_game(np.ones((2, 2)), np.zeros((2, 2)))
    with pytest.raises(AuditError):
        overlap(np.array([[np.nan, 0.0]]), np.ones((1, 2)))


def _blob(shape: tuple[int, ...], center: tuple[float, ...], radius: float) -> np.ndarray:
    grid = np.indices(shape).astype(float)
    dist = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, center, strict=True)))
    return dist <= radius


@pytest.mark.parametrize("shape", [(32, 32), (16, 20, 24)])
def test_perfect_map_scores_one(shape):
    mask = _blob(shape, tuple(s / 3 for s in shape), 4.0)
    sal = mask.astype(float)
    assert pointing_game(sal, mask).hit
    assert energy_pointing_game(sal, mask) == 1.0
    result = overlap(sal, mask, threshold=0.5)
    assert result.iou == 1.0
    assert result.dice == 1.0


def test_random_maps_score_near_chance():
    rng = np.random.default_rng(0)
    shape = (16, 16, 16)
    mask = _blob(shape, (8, 8, 8), 4.5)
    fraction = mask.mean()
    maps = rng.uniform(size=(300, *shape))
    hits = np.mean([pointing_game(m, mask).hit for m in maps])
    energy = np.mean([energy_pointing_game(m, mask) for m in maps])
    iou = np.mean([overlap(m, mask).iou for m in maps])
    sd = np.sqrt(fraction * (1 - fraction) / len(maps))
    assert abs(hits - fraction) < 4 * sd
    assert energy == pytest.approx(fraction, abs=0.01)
    # Half the voxels pass the threshold at random: IoU ~ (f/2) / (1/2 + f/2).
    assert iou == pytest.approx((fraction / 2) / (0.5 + fraction / 2), abs=0.01)
