"""Model-parameter randomisation (Adebayo et al., NeurIPS 2018).

A tiny CNN is trained a few steps on the planted-cube task; its last block (last conv and
the linear head, i.e. the cascading state after two steps from the logits) is then
re-initialised with 4 seeds. The signed maps at feature resolution (``relu=False``) of the
trained and re-initialised models are compared by Spearman rank correlation, averaged
over 8 inputs and the 4 seeds; the maps must change (mean Spearman < 0.5).

Grad-CAM++ and LayerCAM weight the (non-negative) activations by positive gradient parts
only: any re-initialised head still gives a non-negative combination of features that the
untouched earlier layers localise on the cube, so their maps barely change. That is a
property of the methods (for GAP+linear heads both reduce to a positive-part CAM), not of
this implementation; it is recorded as strict xfails so a change is noticed.
"""

from __future__ import annotations

import copy

import pytest
import torch
from scipy.stats import spearmanr

from medcam import cam

from .models import planted_batch, tiny_cnn, train_planted

GRADIENT = [m for m in cam.available() if cam.describe(m).cost_class == "gradient"]
INSENSITIVE = {"gradcam++", "layercam"}
LAST = "7"
SEEDS = range(4)


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation with average ranks for ties."""
    return float(spearmanr(a.flatten().numpy(), b.flatten().numpy()).statistic)


SIZE = {2: 32, 3: 16}


@pytest.fixture(scope="module", params=[2, 3], ids=["2d", "3d"])
def trained(request: pytest.FixtureRequest) -> tuple:
    dims = request.param
    model = train_planted(tiny_cnn(dims, seed=0), dims, size=SIZE[dims])
    x, _ = planted_batch(dims, 8, size=SIZE[dims], seed=999)
    assert (model(x).argmax(dim=1) == 1).all(), "training on the planted task failed"
    randomised = []
    for seed in SEEDS:
        copy_ = copy.deepcopy(model)
        torch.manual_seed(seed)
        copy_[6].reset_parameters()
        copy_[10].reset_parameters()
        randomised.append(copy_)
    return dims, model, randomised, x


def _mean_spearman(method: str, model: torch.nn.Module, others: list[torch.nn.Module],
                   x: torch.Tensor) -> float:
    before = cam.create(method, model, target_layer=LAST, relu=False).compute(x, 1)
    rhos = []
    for other in others:
        after = cam.create(method, other, target_layer=LAST, relu=False).compute(x, 1)
        rhos += [spearman(b, a) for b, a in zip(before.feature_maps, after.feature_maps,
                                                strict=True)]
    return sum(rhos) / len(rhos)


@pytest.mark.parametrize("method", [
    pytest.param(m, marks=pytest.mark.xfail(strict=True, reason="activation-dominated"))
    if m in INSENSITIVE else m for m in GRADIENT])
def test_randomising_last_block_changes_maps(method: str, trained: tuple) -> None:
    dims, model, randomised, x = trained
    if dims == 3 and method in INSENSITIVE:
        pytest.xfail("activation-dominated (asserted in 2D; 3D margin too small to pin)")
    # the metric is not trivially low: the same model gives the same ranking
    assert _mean_spearman(method, model, [model], x) > 0.99
    assert _mean_spearman(method, model, randomised, x) < 0.5
