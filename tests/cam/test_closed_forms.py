"""Closed forms for GAP+linear heads equal the batched general (tail-pass) forms."""

from __future__ import annotations

import math

import pytest
import torch
from monai.networks.nets import DenseNet

from medcam import cam
from medcam.errors import CamError
from medcam.synthetic.planted import MlpHead

from .conftest import build

CLOSED = ["recipro", "ablationcam", "fdcam"]


def small_densenet(dims: int) -> torch.nn.Module:
    """MONAI DenseNet with DenseNet121's head (ReLU -> GAP -> Linear), but narrow."""
    torch.manual_seed(2)
    return DenseNet(spatial_dims=dims, in_channels=1, out_channels=3, init_features=16,
                    growth_rate=8, block_config=(2, 2, 2, 2)).eval()


def _pair(name: str, model: torch.nn.Module, x: torch.Tensor, target: object,
          **options: object) -> tuple[cam.CamResult, cam.CamResult]:
    fast = cam.create(name, model, relu=False, **options).compute(x, target)
    slow = cam.create(name, model, relu=False, closed_form=False, batch_size=200,
                      **options).compute(x, target)
    return fast, slow


@pytest.mark.parametrize(("arch", "dims", "shape"),
                         [("resnet", 2, (2, 1, 64, 64)), ("resnet", 3, (1, 1, 32, 32, 32)),
                          ("small-densenet", 2, (1, 1, 48, 48)),
                          ("small-densenet", 3, (1, 1, 32, 64, 64))], ids=str)
@pytest.mark.parametrize("variant", [{"name": "recipro", "variant": "plain"},
                                     {"name": "recipro", "variant": "gaussian"},
                                     {"name": "ablationcam"}, {"name": "fdcam"}],
                         ids=lambda v: "-".join(map(str, v.values())))
def test_closed_form_equals_batched(arch: str, dims: int, shape: tuple, variant: dict) -> None:
    options = dict(variant)
    name = options.pop("name")
    model = small_densenet(dims) if arch == "small-densenet" else build(arch, dims, seed=2)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(3))
    fast, slow = _pair(name, model, x, None, **options)
    assert fast.feature_maps.abs().max() > 0
    scale = float(fast.feature_maps.abs().max())
    torch.testing.assert_close(fast.feature_maps, slow.feature_maps, rtol=1e-4,
                               atol=1e-5 * scale)
    torch.testing.assert_close(fast.maps, slow.maps, rtol=1e-3, atol=1e-4)


def test_closed_forms_with_callable_target() -> None:
    model = build("resnet", 2, seed=2)
    x = torch.randn(2, 1, 64, 64, generator=torch.Generator().manual_seed(3))

    def score(out: torch.Tensor) -> torch.Tensor:
        return out[:, 0] - out[:, 2]
    for name in CLOSED:
        fast, slow = _pair(name, model, x, score)
        torch.testing.assert_close(fast.feature_maps, slow.feature_maps, rtol=1e-4, atol=1e-5)
        assert fast.targets == (None, None)


def test_gradcam_hirescam_equal_cam_over_m() -> None:
    """For GAP+linear heads Grad-CAM = HiResCAM = CAM / M (CAM_METHODS.md §5)."""
    model = build("resnet", 3, seed=2)
    x = torch.randn(1, 1, 32, 32, 32, generator=torch.Generator().manual_seed(3))
    ref = cam.create("cam", model, relu=False).compute(x, 2).feature_maps
    m = math.prod(ref.shape[1:])
    for name in ("gradcam", "hirescam"):
        got = cam.create(name, model, relu=False).compute(x, 2).feature_maps
        torch.testing.assert_close(got * m, ref, rtol=1e-4, atol=1e-5 * float(ref.abs().max()))


@pytest.mark.parametrize("dims", [2, 3])
def test_nonlinear_head_uses_general_path(dims: int) -> None:
    model = MlpHead(dims).eval()
    x = torch.randn(2, 1, *(16,) * dims, generator=torch.Generator().manual_seed(0))
    for name in (*CLOSED, "cam"):
        engine = cam.create(name, model, target_layer="features.3")
        if name == "cam":
            with pytest.raises(CamError, match="global-average-pool"):
                engine.compute(x)
            continue
        a = engine.compute(x)
        b = cam.create(name, model, target_layer="features.3", batch_size=3).compute(x)
        torch.testing.assert_close(a.feature_maps, b.feature_maps, rtol=1e-5, atol=1e-6)
        assert a.feature_shape == (4,) * dims
