"""Shared fixtures: MONAI DenseNet121/ResNet18 in 2D and 3D, seeded, no pretrained weights."""

from __future__ import annotations

import pytest
import torch
from monai.networks.nets import DenseNet121, resnet18
from torch import nn

#: (spatial dims, architecture) -> (batch, spatial size): the smallest inputs whose feature
#: grid has more than one voxel (DenseNet121 downsamples by 32, MONAI ResNet18 by 16); the
#: 3D DenseNet input is anisotropic on purpose.
SHAPES = {(2, "densenet"): (1, 64, 64), (3, "densenet"): (1, 32, 64, 64),
          (2, "resnet"): (2, 64, 64), (3, "resnet"): (1, 32, 32, 32)}


def build(arch: str, dims: int, classes: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    if arch == "densenet":
        model = DenseNet121(spatial_dims=dims, in_channels=1, out_channels=classes)
    else:
        model = resnet18(spatial_dims=dims, n_input_channels=1, num_classes=classes)
    return model.eval()


_CACHE: dict[tuple[str, int], nn.Module] = {}


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """Run each CAM test on one intra-op thread, restoring the setting afterwards.

    On a shared 2-core machine OpenMP's spin-waiting second thread can make a 3D forward
    pass 20x slower than one thread; one thread keeps the suite's runtime predictable.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=[(2, "densenet"), (3, "densenet"), (2, "resnet"), (3, "resnet")],
                ids=lambda p: f"{p[1]}-{p[0]}d")
def monai_case(request: pytest.FixtureRequest) -> tuple[nn.Module, torch.Tensor, str]:
    dims, arch = request.param
    key = (arch, dims)
    if key not in _CACHE:
        _CACHE[key] = build(arch, dims)
    gen = torch.Generator().manual_seed(1)
    n, *spatial = SHAPES[(dims, arch)]
    x = torch.randn(n, 1, *spatial, generator=gen)
    return _CACHE[key], x, arch
