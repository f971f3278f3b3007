"""Cascading randomisation: Spearman correlation falls as blocks are randomised."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from medcam import cam
from medcam.audit.errors import AuditError
from medcam.audit.randomization import (
    cascade_blocks,
    cascading_randomization,
    randomize_block,
    spearman,
)
from tests.audit.conftest import blob_batch


def test_spearman_hand_values():
    assert spearman([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == pytest.approx(0.5)
    assert spearman([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert spearman([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]) == 0.0


def test_cascade_blocks_from_logits_downward(tiny_model):
    assert cascade_blocks(tiny_model) == ("fc", "conv3", "conv2", "conv1")


def test_cascade_blocks_open_sequential_containers():
    from monai.networks.nets import DenseNet

    net = DenseNet(spatial_dims=2, in_channels=1, out_channels=2, init_features=4,
                   growth_rate=4, block_config=(2,), bn_size=2)
    assert cascade_blocks(net) == (
        "class_layers", "features.norm5", "features.denseblock1.denselayer2",
        "features.denseblock1.denselayer1", "features.norm0", "features.conv0")


def test_randomize_block_is_seeded_and_leaves_others():
    a = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Linear(3, 3))
    b = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Linear(3, 3))
    b.load_state_dict(a.state_dict())
    a[1].running_mean.fill_(5.0)
    before = a[2].weight.clone()
    randomize_block(a[0], seed=7)
    randomize_block(b[0], seed=7)
    assert torch.equal(a[0].weight, b[0].weight)
    assert torch.equal(a[2].weight, before)
    randomize_block(a[1], seed=1)
    assert torch.all(a[1].running_mean == 0)


def _gradcam(model: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    return cam.create("gradcam", model, target_layer="conv3")(x, target)[0].numpy()


def _edges(model: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """A model-independent 'explanation' (image gradient magnitude)."""
    img = x[0, 0].numpy()
    return np.hypot(*np.gradient(img))


def test_correlation_falls_as_blocks_are_randomised(tiny_model):
    x, y, _ = blob_batch(np.random.default_rng(3), 8)
    positives = [i for i in range(8) if y[i] == 1][:3]
    curves = []
    for i in positives:
        xi = x[i:i + 1]
        result = cascading_randomization(tiny_model, xi, 1, _gradcam, seed=i)
        assert result.blocks == ("fc", "conv3", "conv2", "conv1")
        curves.append(result.spearman)
    mean = np.mean(curves, axis=0)
    assert mean[-1] < 0.5, mean
    assert mean.min() < 0.5, mean
    # The trained model is untouched: its map is unchanged after the check.
    again = cascading_randomization(tiny_model, x[positives[0]:positives[0] + 1], 1, _gradcam,
                                    seed=positives[0])
    assert again.spearman == pytest.approx(curves[0])


def test_model_independent_map_fails_the_check(tiny_model):
    x, _, _ = blob_batch(np.random.default_rng(4), 1)
    result = cascading_randomization(tiny_model, x, 1, _edges)
    assert result.spearman == pytest.approx((1.0,) * 4)


def test_unknown_block_raises(tiny_model):
    with pytest.raises(AuditError):
        cascading_randomization(tiny_model, torch.zeros(1, 1, 24, 24), 1, _gradcam,
                                blocks=["nope"])
