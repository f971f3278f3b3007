"""Deletion/insertion curves, baselines and confidence metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medcam.audit.errors import AuditError
from medcam.audit.metrics import (
    adcc,
    average_drop,
    blend,
    class_probability,
    coherency,
    complexity,
    confidence_change,
    default_baselines,
    deletion,
    explanation_input,
    increase_in_confidence,
    insertion,
    make_baseline,
    rank_voxels,
)


def total_over_ten(batch: torch.Tensor) -> torch.Tensor:
    """A 'model' whose score is the sum of the input divided by 10."""
    return batch.flatten(1).sum(1) / 10.0


def mean_score(batch: torch.Tensor) -> torch.Tensor:
    return batch.flatten(1).mean(1)


X = torch.tensor([[[4.0, 3.0], [2.0, 1.0]]])  # (C=1, 2, 2)
SAL = np.array([[4.0, 3.0], [2.0, 1.0]])


def test_deletion_hand_value():
    curve = deletion(total_over_ten, X, SAL, torch.zeros_like(X), n_steps=4)
    assert curve.fractions == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert curve.scores == pytest.approx((1.0, 0.6, 0.3, 0.1, 0.0))
    assert curve.auc == pytest.approx(0.25 * (0.5 + 0.6 + 0.3 + 0.1))
    assert curve.params["n_steps"] == 4
    assert curve.params["step_fraction"] == 0.25


def test_insertion_hand_value():
    curve = insertion(total_over_ten, X[None], SAL, torch.zeros_like(X), n_steps=4,
                      params={"baseline": "zero"})
    assert curve.scores == pytest.approx((0.0, 0.4, 0.7, 0.9, 1.0))
    assert curve.auc == pytest.approx(0.25 * (0.4 + 0.7 + 0.9 + 0.5))
    assert curve.params["baseline"] == "zero"


def test_deletion_3d_good_map_beats_inverted_map():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.uniform(size=(1, 8, 8, 8)).astype(np.float32))
    good = x[0].numpy()
    base = torch.zeros_like(x)
    d_good = deletion(mean_score, x, good, base, n_steps=16, batch_size=5)
    d_bad = deletion(mean_score, x, -good, base, n_steps=16)
    i_good = insertion(mean_score, x, good, base, n_steps=16)
    assert len(d_good.scores) == 17
    assert d_good.auc < d_bad.auc
    assert i_good.auc > d_good.auc


def test_rank_voxels_breaks_ties_by_seed_not_raster_order():
    flat = np.zeros((4, 4))
    a, b = rank_voxels(flat, seed=0), rank_voxels(flat, seed=1)
    assert sorted(a.tolist()) == list(range(16))
    assert not np.array_equal(a, np.arange(16))
    assert not np.array_equal(a, b)
    assert rank_voxels(SAL).tolist() == [0, 1, 2, 3]


def test_baselines():
    x = torch.arange(8, dtype=torch.float32).reshape(1, 2, 4)
    assert torch.all(make_baseline(x, "air", air_value=0.25) == 0.25)
    assert torch.all(make_baseline(x, "zero") == 0)
    assert torch.allclose(make_baseline(x, "mean"), torch.full_like(x, 3.5))
    blurred = make_baseline(x, "blur", sigma_mm=4.0, spacing=(2.0, 2.0))
    assert blurred.shape == x.shape
    assert blurred.std() < x.std()
    const = torch.full((1, 5, 5, 5), 7.0)
    assert torch.allclose(make_baseline(const, "blur", sigma_mm=3.0), const)
    with pytest.raises(AuditError):
        make_baseline(x, "noise")  # type: ignore[arg-type]
    assert default_baselines("CT") == ("air", "blur")
    assert default_baselines("MR") == ("blur", "blur")
    keep = torch.tensor([[1.0, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0]])
    mixed = blend(x, keep, torch.zeros_like(x))
    assert mixed.tolist() == [[[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 7.0]]]


def test_average_drop_and_increase_hand_values():
    assert average_drop([0.8, 0.5], [0.4, 0.6]) == pytest.approx(25.0)
    assert increase_in_confidence([0.8, 0.5], [0.4, 0.6]) == pytest.approx(50.0)
    assert average_drop([0.0], [0.3]) == 0.0
    with pytest.raises(AuditError):
        average_drop([0.5], [0.5, 0.2])


def test_confidence_change_uses_the_baseline_blend():
    x = torch.ones(1, 3, 3)
    sal = np.full((3, 3), 0.5)
    blended = explanation_input(x, sal, torch.zeros_like(x))
    assert torch.allclose(blended, torch.full_like(x, 0.5))
    result = confidence_change(mean_score, x, sal, torch.zeros_like(x))
    assert (result.original, result.explained) == pytest.approx((1.0, 0.5))
    assert result.drop == pytest.approx(0.5)
    assert not result.increase


def test_coherency_complexity_adcc_hand_values():
    a = np.array([[0.0, 0.5], [1.0, 0.5]])
    assert coherency(a, a) == pytest.approx(1.0)
    assert coherency(a, 1.0 - a) == pytest.approx(0.0)
    assert coherency(a, np.ones((2, 2))) == 0.5
    assert complexity(a) == pytest.approx(0.5)
    assert adcc(1.0, 0.0, 0.0) == pytest.approx(100.0)
    assert adcc(0.8, 0.2, 0.2) == pytest.approx(80.0)
    assert adcc(1.0, 0.5, 0.0) == pytest.approx(75.0)
    assert adcc(0.0, 0.1, 0.1) == 0.0
    with pytest.raises(AuditError):
        adcc(1.5, 0.0, 0.0)


def test_class_probability_is_softmax_of_target():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x = torch.randn(2, 1, 2, 2)
    expected = torch.softmax(model(x), dim=1)[:, 2]
    assert torch.allclose(class_probability(model, 2)(x), expected)
