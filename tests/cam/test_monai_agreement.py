"""Agreement with MONAI's CAM and GradCAM (explicit identity post-processing)."""

from __future__ import annotations

import copy

import pytest
import torch
from monai.visualize import CAM as MonaiCAM
from monai.visualize import GradCAM as MonaiGradCAM

from medcam import cam

from .conftest import build

CASES = [("densenet", 2, (1, 1, 96, 96)), ("densenet", 3, (1, 1, 32, 64, 64)),
         ("resnet", 2, (2, 1, 64, 64)), ("resnet", 3, (1, 1, 32, 32, 32))]
LAYERS = {"densenet": ("class_layers.relu", "class_layers.out", "features.transition3"),
          "resnet": ("layer4", "fc", "layer3")}


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().flatten(), b.detach().double().flatten()
    a, b = a - a.mean(), b - b.mean()
    assert float(a.norm()) > 0, "constant map: comparison is void"
    assert float(b.norm()) > 0, "constant map: comparison is void"
    return float((a @ b) / (a.norm() * b.norm()))


@pytest.mark.parametrize(("arch", "dims", "shape"), CASES, ids=lambda c: str(c))
def test_cam_and_gradcam_match_monai(arch: str, dims: int, shape: tuple[int, ...]) -> None:
    model = build(arch, dims, seed=4)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(5))
    layer, fc, mid = LAYERS[arch]
    target = [1] * shape[0]
    ident = lambda t: t  # noqa: E731 - MONAI's default normaliser inverts the map

    ours = cam.create("cam", model, relu=False).compute(x, target)
    theirs = MonaiCAM(copy.deepcopy(model), target_layers=layer, fc_layers=fc,
                      postprocessing=ident)(x, class_idx=torch.tensor(target))
    for i in range(shape[0]):
        assert pearson(ours.raw[i], theirs[i, 0]) >= 0.99

    # an intermediate layer (nonlinear tail) too, except on the slow 3D DenseNet
    for name in (layer, mid) if (arch, dims) != ("densenet", 3) else (layer,):
        ours = cam.create("gradcam", model, target_layer=name).compute(x, target)
        theirs = MonaiGradCAM(copy.deepcopy(model), target_layers=name,
                              postprocessing=ident)(x, class_idx=torch.tensor(target))
        for i in range(shape[0]):
            assert pearson(ours.raw[i], theirs[i, 0]) >= 0.99
            assert pearson(ours.maps[i], theirs[i, 0]) >= 0.99
