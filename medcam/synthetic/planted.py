"""Tiny models with planted evidence, for the CAM tests and benches (no downloaded weights)."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from medcam import cam
from medcam.audit.randomization import cascade_blocks, randomize_block, spearman

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
        if conv.bias is not None:  # a Conv layer has one unless bias=False
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
        index: tuple[int | slice, ...] = (i, 0, *(slice(c, c + CUBE) for c in corner))
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


def add_distractor(x: Tensor, corners: Tensor, seed: int) -> Tensor:
    """Add a dark cube (-1) to every volume, at least one voxel away from its bright cube.

    Class-irrelevant structure of the same size and contrast as the planted cube (the
    volume must leave room for both cubes).
    """
    gen = torch.Generator().manual_seed(seed)
    size = x.shape[2]
    for i, corner in enumerate(corners.tolist()):
        while True:
            dark = torch.randint(0, size - CUBE + 1, (len(corner),), generator=gen).tolist()
            if max(abs(a - b) for a, b in zip(dark, corner, strict=True)) > CUBE:
                break
        index: tuple[int | slice, ...] = (i, 0, *(slice(c, c + CUBE) for c in dark))
        x[index] -= 1.0
    return x


def planted_task(dims: int, n: int, size: int, seed: int,
                 distractor: bool = False) -> tuple[Tensor, Tensor]:
    """``n`` labelled volumes: class 1 (odd rows) has a bright cube, class 0 is noise only.

    With ``distractor`` every volume of both classes also gets a dark cube.
    """
    x, corners = planted_batch(dims, n, size, seed=seed)
    y = torch.arange(n) % 2
    x[y == 0] = 0.05 * torch.randn(x[y == 0].shape, generator=torch.Generator().manual_seed(seed))
    return (add_distractor(x, corners, seed) if distractor else x), y


def train_planted(model: nn.Module, dims: int, steps: int = 40, size: int = 32,
                  distractor: bool = False) -> nn.Module:
    """Train ``model`` a few Adam steps on :func:`planted_task` (batches of 32)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        x, y = planted_task(dims, 32, size, seed=100 + step, distractor=distractor)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    opt.zero_grad(set_to_none=True)
    return model.eval()


def randomised(model: nn.Module, steps: int, seed: int) -> nn.Module:
    """A copy of ``model`` whose last ``steps`` parameter blocks are re-initialised.

    Cascading, from the logits downward, with each block's own initialiser, exactly as
    :func:`medcam.audit.randomization.cascading_randomization` does (step ``k`` uses
    ``seed + k``).
    """
    work = copy.deepcopy(model)
    for k, name in enumerate(cascade_blocks(model)[:steps]):
        randomize_block(work.get_submodule(name), seed + k)
    return work.eval()


def randomisation_spearman(method: str, model: nn.Module, x: Tensor, steps: int,
                           seeds: Iterable[int], layer: str = "7") -> list[float]:
    """Spearman of each input's map (class 1) before and after :func:`randomised`.

    The maps are medcam's output ``L`` (ReLU, upsampled, min-max; CAM_METHODS.md §7);
    a constant map has no ranking and counts 0, as in the audit. One value per seed and
    input.
    """
    before = cam.create(method, model, target_layer=layer)(x, 1)
    rhos = []
    for seed in seeds:
        after = cam.create(method, randomised(model, steps, seed), target_layer=layer)(x, 1)
        rhos += [spearman(b, a) for b, a in zip(before, after, strict=True)]
    return rhos


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
        """Logits of the MLP head on the pooled features."""
        logits: Tensor = self.head(self.pool(self.features(x)).flatten(1))
        return logits


class Exploding(nn.Module):
    """A model whose forward raises after the target layer when ``armed``."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.body = tiny_cnn(dims)
        self.armed = False

    def forward(self, x: Tensor) -> Tensor:
        """The tiny CNN's logits, or ``RuntimeError`` after the target layer when armed."""
        feats = self.body[:8](x)
        if self.armed:
            raise RuntimeError("boom")
        logits: Tensor = self.body[8:](feats)
        return logits
