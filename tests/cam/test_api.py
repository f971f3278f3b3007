"""Public API: method table, factory errors, layer auto-detection, upsampling, results."""

from __future__ import annotations

import dataclasses
import math
import warnings

import pytest
import torch
from monai.networks.nets import DenseNet, EfficientNetBN, SEResNet50
from torch import nn

from medcam import cam
from medcam.cam.normalize import minmax
from medcam.errors import CamError, TargetLayerError
from medcam.synthetic.planted import tiny_cnn

from .conftest import build

NAMES = ["cam", "gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "scorecam",
         "ablationcam", "eigencam", "recipro", "fdcam", "fgcam", "clustercam"]


def test_available_and_describe() -> None:
    assert cam.available() == NAMES
    for name in NAMES:
        info = cam.describe(name)
        assert isinstance(info, cam.MethodInfo)
        assert info.name == name
        assert info.cost_class in {"gradient", "perturbation", "gradient-free"}
        assert "arXiv" in info.paper or any(v in info.paper for v in ("WACV", "TIP", "CVPR"))
        assert info.summary
        assert "\n" not in info.summary
        with pytest.raises(dataclasses.FrozenInstanceError):
            info.name = "x"  # type: ignore[misc]
    assert cam.describe("recipro").cost_class == "gradient-free"
    assert cam.describe("scorecam").cost_class == "perturbation"
    assert cam.describe("gradcam").cost_class == "gradient"
    needs = {n for n in NAMES if cam.describe(n).needs_grad}
    assert needs == {"gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "fdcam",
                     "fgcam"}


def test_unknown_names_and_options() -> None:
    model = tiny_cnn(2)
    with pytest.raises(CamError, match="available: cam, gradcam"):
        cam.create("nope", model)
    with pytest.raises(CamError, match="available"):
        cam.describe("nope")
    with pytest.raises(TargetLayerError, match="close matches: 7"):
        cam.create("gradcam", model, target_layer="77")
    with pytest.raises(TargetLayerError, match="not a submodule"):
        cam.create("gradcam", model, target_layer=nn.ReLU())
    with pytest.raises(CamError, match="does not accept option"):
        cam.create("gradcam", model, variant="plain")
    with pytest.raises(CamError, match="not both"):
        cam.create("gradcam", model, target_layer="7", layers=["4"])
    with pytest.raises(CamError, match="one target layer"):
        cam.create("recipro", model, layers=["4", "7"])
    with pytest.raises(CamError, match="upsample"):
        cam.create("gradcam", model, upsample="cubic")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script is deprecated
        scripted = torch.jit.script(model)
    with pytest.raises(TargetLayerError, match="TorchScript"):
        cam.create("gradcam", scripted)


def test_layer_as_module_name_and_list() -> None:
    model = tiny_cnn(2)
    x = torch.randn(1, 1, 32, 32)
    by_name = cam.create("gradcam", model, target_layer="4").compute(x, 1)
    by_module = cam.create("gradcam", model, target_layer=model[4]).compute(x, 1)
    torch.testing.assert_close(by_name.raw, by_module.raw)
    assert by_module.target_layers == ("4",)
    assert by_name.feature_shape == (16, 16)


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize(("factory", "expected"), [
    (lambda d: DenseNet(spatial_dims=d, in_channels=1, out_channels=2, init_features=8,
                        growth_rate=4, block_config=(1, 1, 1, 1)), "class_layers.relu"),
    (lambda d: SEResNet50(spatial_dims=d, in_channels=1, num_classes=2, layers=(1, 1, 1, 1)),
     "layer4"),
    (lambda d: EfficientNetBN("efficientnet-b0", pretrained=False, spatial_dims=d,
                              in_channels=1, num_classes=2), "_bn1"),
], ids=["densenet", "seresnet50", "efficientnet"])
def test_auto_layer(dims: int, factory: object, expected: str) -> None:
    torch.manual_seed(0)
    model = factory(dims).eval()  # type: ignore[operator]
    x = torch.randn(1, 1, *(64,) * dims) if dims == 2 else torch.randn(1, 1, 32, 32, 64)
    result = cam.create("gradcam", model).compute(x)
    assert result.target_layers == (expected,)
    assert len(result.feature_shape) == dims
    assert torch.isfinite(result.maps).all()


def test_auto_layer_is_corrected_by_the_trace() -> None:
    """The structural guess (module before the last global pool) can be wrong; the trace of
    the first pass corrects it."""
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)  # registered first, runs last
            self.conv = nn.Conv2d(1, 4, 3, stride=2)
            self.act = nn.ReLU()
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.pool(self.act(self.conv(x))).flatten(1))
    result = cam.create("gradcam", Odd().eval()).compute(torch.randn(2, 1, 16, 16))
    assert result.target_layers == ("act",)


def test_multi_layer_fusion() -> None:
    model = build("resnet", 2)
    x = torch.randn(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    for name in ("gradcam", "layercam", "gradcam++", "xgradcam", "hirescam", "fgcam"):
        if name == "fgcam":
            with pytest.raises(CamError, match="one target layer"):
                cam.create(name, model, layers=["layer3", "layer4"])
            continue
        result = cam.create(name, model, layers=["layer4", "layer3"]).compute(x, 1)
        assert result.target_layers == ("layer4", "layer3")
        assert result.feature_shape == (8, 8)  # the finest grid
        assert float(result.maps.max()) == pytest.approx(1.0)
        single = cam.create(name, model, target_layer="layer4").compute(x, 1)
        assert not torch.allclose(result.maps, single.maps)
        # the deepest map, scaled to [0, 1], is a lower bound of the max-fusion
        deep = single.raw / single.feature_maps.flatten(1).amax(1).reshape(-1, 1, 1)
        assert (result.raw >= deep - 1e-5).all()


def test_gaussian_upsample_properties() -> None:
    const = torch.full((1, 2, 3, 4), 5.0)
    out = cam.gaussian_upsample(const, (8, 24, 64))
    torch.testing.assert_close(out, torch.full((1, 8, 24, 64), 5.0))
    # an interior impulse peaks at its receptive-field centre, per axis
    impulse = torch.zeros(1, 3, 5, 4)
    impulse[0, 1, 2, 1] = 1.0
    size, strides, cell = (12, 40, 64), (4, 8, 16), (1, 2, 1)
    out = cam.gaussian_upsample(impulse, size, sigma=(2.0, 4.0, 8.0))
    peak = torch.unravel_index(out.flatten().argmax(), out.shape[1:])
    centres = [(s - 1) / 2 + s * p for s, p in zip(strides, cell, strict=True)]
    assert all(abs(int(p) - c) <= 0.5 for p, c in zip(peak, centres, strict=True))
    # anisotropic sigma: the spread follows sigma per axis
    assert float(out.amax()) <= 1.0
    assert float(out.amin()) >= 0.0
    with pytest.raises(CamError, match="sigma"):
        cam.gaussian_upsample(impulse, size, sigma=(1.0, -1.0, 1.0))


def test_gaussian_option_on_an_anisotropic_model() -> None:
    model = nn.Sequential(nn.Conv3d(1, 4, (1, 4, 4), stride=(1, 4, 4)), nn.ReLU(),
                          nn.Conv3d(4, 4, (2, 2, 2), stride=(2, 2, 2)), nn.ReLU(),
                          nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    x = torch.randn(2, 1, 6, 48, 40)
    lin = cam.create("gradcam", model).compute(x, 1)
    gau = cam.create("gradcam", model, upsample="gaussian").compute(x, 1)
    assert lin.feature_shape == gau.feature_shape == (3, 6, 5)
    assert gau.maps.shape == (2, 6, 48, 40)
    assert torch.isfinite(gau.maps).all()
    assert gau.params["upsample"] == "gaussian"
    # the Gaussian map is smoother: smaller mean absolute in-plane gradient
    def roughness(m: torch.Tensor) -> float:
        return float((m[..., 1:] - m[..., :-1]).abs().mean())
    assert roughness(gau.maps) < roughness(lin.maps)


def test_volume_wise_normalisation() -> None:
    maps = torch.zeros(2, 3, 4, 4)
    maps[0, 0] = 0.1
    maps[0, 1, 1, 1] = 1.0
    maps[1] = 7.0  # constant sample
    out = minmax(maps)
    assert float(out[0, 0].max()) == pytest.approx(0.1)  # a faint slice stays faint
    assert float(out[0].max()) == 1.0
    assert float(out[0].min()) == 0.0
    assert torch.equal(out[1], torch.zeros(3, 4, 4))


def test_result_is_frozen_and_consistent() -> None:
    model = tiny_cnn(3)
    x = torch.randn(2, 1, 16, 16, 16)
    result = cam.create("gradcam", model, relu=False).compute(x, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.maps = result.raw  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.params["relu"] = True  # type: ignore[index]
    assert result.params["relu"] is False
    assert result.feature_shape == (4, 4, 4)
    up = torch.nn.functional.interpolate(result.feature_maps[:, None], size=(16, 16, 16),
                                         mode="trilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(result.raw, up)
    with torch.no_grad():
        torch.testing.assert_close(result.logits, model(x))
    assert math.prod(result.feature_shape) == 64


def test_score_cam_baselines() -> None:
    model = tiny_cnn(2)
    x = torch.randn(1, 1, 32, 32)
    zero = cam.create("scorecam", model).compute(x, 1)
    blur = cam.create("scorecam", model, baseline="blur").compute(x, 1)
    const = cam.create("scorecam", model, baseline=-1.0).compute(x, 1)
    assert blur.params["baseline"] == "blur"
    assert const.params["baseline"] == -1.0
    assert not torch.allclose(zero.raw, blur.raw)
    assert not torch.allclose(zero.raw, const.raw)
    with pytest.raises(CamError, match="baseline"):
        cam.create("scorecam", model, baseline="air")
