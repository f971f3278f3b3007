"""The gradient methods' formulas (CAM_METHODS.md §3.2-3.6) in 3D, against references.

The references are written out independently of medcam's hooks: the features ``A`` of
:class:`MlpHead` are computed by hand, ``g = dy_c/dA`` by plain autograd, and each formula
is spelled out channel by channel with sums over *all three* spatial axes of an
anisotropic volume. The target layer sits before a conv, so ``g`` varies over space
(with a GAP+linear tail Grad-CAM++'s per-voxel coefficients would be trivial). MONAI's
GradCAMpp is compared where its denominator ``sum_v A g^3`` equals the paper's
``[sum_v A] g^3`` (a GAP+linear tail, so ``g`` is constant over space).
"""

from __future__ import annotations

import copy

import pytest
import torch
from monai.visualize import GradCAMpp as MonaiGradCAMpp

from medcam import cam
from medcam.synthetic.planted import MlpHead

from .conftest import build

CLASS = 2


def _features_and_grads(model: MlpHead, x: torch.Tensor, upto: int) -> tuple:
    """``A`` = output of ``features[:upto + 1]`` and ``g`` = d(logit CLASS)/dA."""
    with torch.no_grad():
        acts = model.features[:upto + 1](x)
    acts.requires_grad_(True)
    tail = model.features[upto + 1:](acts)
    logits = model.head(model.pool(tail).flatten(1))
    (grads,) = torch.autograd.grad(logits[:, CLASS].sum(), acts)
    return acts.detach().double(), grads.double()


def _reference(name: str, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The map of ``name`` for one sample, ``a`` and ``g`` of shape ``(K, D, H, W)``."""
    out = torch.zeros(a.shape[1:], dtype=torch.float64)
    for k in range(a.shape[0]):
        ak, gk = a[k], g[k]
        if name == "gradcam":
            out += gk.mean(dim=(0, 1, 2)) * ak
        elif name == "xgradcam":
            out += (ak * gk).sum(dim=(0, 1, 2)) / (ak.sum(dim=(0, 1, 2)) + 1e-7) * ak
        elif name == "layercam":
            out += torch.relu(gk) * ak
        elif name == "hirescam":
            out += gk * ak
        elif name == "gradcam++":
            den = 2 * gk**2 + ak.sum(dim=(0, 1, 2)) * gk**3
            alpha = torch.where(den != 0, gk**2 / torch.where(den != 0, den, 1.0), 0.0)
            out += (alpha * torch.relu(gk)).sum(dim=(0, 1, 2)) * ak
    return out


@pytest.mark.parametrize("name", ["gradcam", "gradcam++", "xgradcam", "layercam", "hirescam"])
@pytest.mark.parametrize("upto", [0, 1], ids=["signed-conv-output", "relu-output"])
def test_formulas_in_3d(name: str, upto: int) -> None:
    model = MlpHead(3).eval()
    x = torch.randn(2, 1, 12, 16, 20, generator=torch.Generator().manual_seed(4))
    a, g = _features_and_grads(model, x, upto)
    assert g.flatten(2).std(dim=2).max() > 0, "gradients must vary over space"
    got = cam.create(name, model, target_layer=f"features.{upto}", relu=False).compute(x, CLASS)
    assert got.feature_shape == (6, 8, 10)
    for i in range(x.shape[0]):
        ref = _reference(name, a[i], g[i]).float()
        torch.testing.assert_close(got.feature_maps[i], ref, rtol=1e-4,
                                   atol=1e-5 * float(ref.abs().max()))


def test_gradcam_pp_matches_monai_on_a_gap_linear_tail() -> None:
    model = build("resnet", 3, seed=4)
    x = torch.randn(1, 1, 32, 32, 48, generator=torch.Generator().manual_seed(5))
    ours = cam.create("gradcam++", model, target_layer="layer4").compute(x, 1)
    theirs = MonaiGradCAMpp(copy.deepcopy(model), target_layers="layer4",
                            postprocessing=lambda t: t)(x, class_idx=torch.tensor([1]))
    a, b = ours.raw[0].double().flatten(), theirs[0, 0].detach().double().flatten()
    assert float(b.std()) > 0
    corr = torch.corrcoef(torch.stack([a, b]))[0, 1]
    assert corr >= 0.999
