"""Tiny in-repo models for the CAM tests (no downloaded weights)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

CONV = {2: nn.Conv2d, 3: nn.Conv3d}
POOL = {2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
MAXPOOL = {2: nn.MaxPool2d, 3: nn.MaxPool3d}
STRIDE = 4
CUBE = 6


def planted_model(dims: int) -> nn.Sequential:
    """Hand-weighted conv (stride 4) -> ReLU -> GAP -> Linear that detects a bright cube.

    Channels: 0 and 1 are box filters (cell coverage of bright voxels) with thresholds
    0.1 and 0.3; 2 responds to dark background; 3 is a fixed zero-mean texture filter.
    Class 1 ("cube") weighs the box channels positively, class 0 the background channel.
    """
    conv = CONV[dims](1, 4, kernel_size=STRIDE, stride=STRIDE)
    cell = STRIDE ** dims
    gen = torch.Generator().manual_seed(7)
    texture = torch.randn((STRIDE,) * dims, generator=gen)
    with torch.no_grad():
        conv.weight[0, 0] = 1.0 / cell
        conv.weight[1, 0] = 1.0 / cell
        conv.weight[2, 0] = -1.0 / cell
        conv.weight[3, 0] = (texture - texture.mean()) / cell
        conv.bias.copy_(torch.tensor([-0.1, -0.3, 0.1, 0.0]))
    linear = nn.Linear(4, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[-8.0, -8.0, 0.1, 0.0], [8.0, 8.0, -0.1, 0.0]]))
        linear.bias.zero_()
    return nn.Sequential(conv, nn.ReLU(), POOL[dims](1), nn.Flatten(), linear).eval()


def planted_batch(dims: int, n: int, size: int = 32, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` noisy volumes with one bright cube each; returns (x, cube corners ``(n, dims)``)."""
    gen = torch.Generator().manual_seed(seed)
    x = 0.05 * torch.randn(n, 1, *(size,) * dims, generator=gen)
    corners = torch.randint(0, size - CUBE + 1, (n, dims), generator=gen)
    for i, corner in enumerate(corners.tolist()):
        index = (i, 0, *(slice(c, c + CUBE) for c in corner))
        x[index] += 1.0
    return x, corners


def tiny_cnn(dims: int, classes: int = 2, seed: int = 0) -> nn.Sequential:
    """Three conv blocks (the last one is ``"6"``/``"7"``), GAP and a linear head."""
    torch.manual_seed(seed)
    conv, pool = CONV[dims], MAXPOOL[dims]
    return nn.Sequential(
        conv(1, 8, 3, padding=1), nn.ReLU(), pool(2),
        conv(8, 16, 3, padding=1), nn.ReLU(), pool(2),
        conv(16, 16, 3, padding=1), nn.ReLU(),
        POOL[dims](1), nn.Flatten(), nn.Linear(16, classes))


def train_planted(model: nn.Module, dims: int, steps: int = 40, size: int = 32) -> nn.Module:
    """Train ``model`` a few steps: class 1 = a bright cube is present, class 0 = noise only."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        x, _ = planted_batch(dims, 32, size, seed=100 + step)
        y = torch.arange(32) % 2
        x[y == 0] = 0.05 * torch.randn_like(x[y == 0])
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    opt.zero_grad(set_to_none=True)
    return model.eval()


class MlpHead(nn.Module):
    """A conv backbone with a nonlinear (MLP) head, so no closed form applies."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.features = nn.Sequential(CONV[dims](1, 6, 3, stride=2, padding=1), nn.ReLU(),
                                      CONV[dims](6, 8, 3, stride=2, padding=1), nn.ReLU())
        self.pool = POOL[dims](1)
        self.head = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.pool(self.features(x)).flatten(1))


class Exploding(nn.Module):
    """A model whose forward raises after the target layer when ``armed``."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.body = tiny_cnn(dims)
        self.armed = False

    def forward(self, x: Tensor) -> Tensor:
        feats = self.body[:8](x)
        if self.armed:
            raise RuntimeError("boom")
        return self.body[8:](feats)
