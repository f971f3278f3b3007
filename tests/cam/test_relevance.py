"""FG-CAM's relevance rules: conservation, the z^B input rule, and the chain recording."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from medcam.cam.relevance import propagate

CONV = {2: nn.Conv2d, 3: nn.Conv3d}
POOLS = {2: (nn.MaxPool2d, nn.AvgPool2d), 3: (nn.MaxPool3d, nn.AvgPool3d)}


@pytest.mark.parametrize("dims", [2, 3])
def test_bias_free_chain_conserves_relevance(dims: int) -> None:
    torch.manual_seed(0)
    maxpool, avgpool = POOLS[dims]
    chain = nn.Sequential(CONV[dims](3, 6, 3, padding=1, bias=False), nn.ReLU(), maxpool(2),
                          CONV[dims](6, 5, 3, padding=1, bias=False), nn.BatchNorm3d(5)
                          if dims == 3 else nn.BatchNorm2d(5), nn.ReLU(), avgpool(2)).eval()
    chain[4].running_mean.zero_()
    chain[4].running_var.fill_(1.0)
    x = torch.rand(2, 3, *(8,) * dims)
    out = chain(x)
    rel = propagate(chain, x, out)
    assert rel.shape == x.shape
    # z+ keeps relevance non-negative for positive inputs and conserves it layer by layer
    assert float(rel.min()) >= -1e-6
    torch.testing.assert_close(rel.flatten(1).sum(1), out.flatten(1).sum(1), rtol=1e-4,
                               atol=1e-5)


def test_input_rule_uses_bounds_and_conserves() -> None:
    torch.manual_seed(1)
    conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)
    x = torch.randn(1, 1, 8, 8)
    out = conv(x).detach()
    low, high = float(x.min()), float(x.max())
    rel = propagate(conv, x, out, bounds=(low, high))
    # z^B conserves exactly (no bias): sum R_in = sum R_out; border taps are padded zeros
    torch.testing.assert_close(rel.sum(), out.sum(), rtol=1e-4, atol=1e-4)
    with pytest.raises(AssertionError):  # the z+ rule (no bounds) gives a different split
        torch.testing.assert_close(propagate(conv, x, out), rel)


def test_dense_and_residual_blocks_match_their_forward() -> None:
    from monai.networks.nets import DenseNet121, resnet18

    torch.manual_seed(0)
    dense = DenseNet121(spatial_dims=2, in_channels=1, out_channels=2).eval()
    layer = dense.features.denseblock1.denselayer1
    x = torch.rand(1, 64, 8, 8)
    out = layer(x)
    rel = propagate(layer, x, torch.ones_like(out))
    assert rel.shape == x.shape
    # the concatenated input channels pass straight through
    assert float((rel - 1).abs().min()) < 1.0
    block = resnet18(spatial_dims=2, n_input_channels=1, num_classes=2).eval().layer2[0]
    x = torch.rand(1, 64, 8, 8)
    out = block(x)
    rel = propagate(block, x, out)
    assert rel.shape == x.shape
    assert torch.isfinite(rel).all()
    assert float(rel.sum()) > 0


def test_fgcam_options() -> None:
    from medcam import cam
    from medcam.errors import CamError
    from medcam.synthetic.planted import tiny_cnn

    model = tiny_cnn(2)
    x = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    plain = cam.create("fgcam", model).compute(x, 1)
    assert plain.feature_shape == (32, 32)  # 8x8 -> 4x finer per axis: the input
    mid = cam.create("fgcam", model, fg_layer="4").compute(x, 1)
    assert mid.feature_shape == (16, 16)
    coarse = cam.create("fgcam", model, scale=2).compute(x, 1)
    assert coarse.feature_shape == (16, 16)
    denoised = cam.create("fgcam", model, denoise=True).compute(x, 1)
    assert torch.isfinite(denoised.maps).all()
    assert not torch.allclose(denoised.raw, plain.raw)
    with pytest.raises(CamError, match="main path"):
        cam.create("fgcam", model, fg_layer="9").compute(x, 1)
