"""Shared fixtures: a tiny 2D classifier trained in seconds, and one CLI audit run."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from medcam.audit.cli import add_audit_parser, run_audit_command
from tests.audit.tiny_spec import write_tiny_spec

SAMPLES = Path(__file__).resolve().parents[2] / "sample_dicoms" / "audit"
METHODS = ["gradcam", "layercam"]


class TinyNet(nn.Module):
    """Three conv blocks, global average pooling and a linear head (2 classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.conv3 = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.conv3(self.conv2(self.conv1(x)))).flatten(1))


def blob_batch(rng: np.random.Generator, n: int, size: int = 24
               ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Noisy images; label 1 has a bright disc at a random place. Returns (x, y, masks)."""
    x = rng.normal(0.0, 0.15, (n, 1, size, size)).astype(np.float32)
    y = rng.integers(0, 2, n)
    masks = np.zeros((n, size, size), dtype=bool)
    rows, cols = np.indices((size, size))
    for i in np.flatnonzero(y):
        r, c = rng.uniform(5, size - 5, 2)
        masks[i] = (rows - r) ** 2 + (cols - c) ** 2 <= 9.0
        x[i, 0][masks[i]] += 1.0
    return torch.from_numpy(x), torch.from_numpy(y), masks


@pytest.fixture(scope="session")
def tiny_model() -> TinyNet:
    """TinyNet trained to detect the disc (about 2 s on two cores)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = TinyNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(40):
        x, y, _ = blob_batch(rng, 32)
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    x, y, _ = blob_batch(np.random.default_rng(99), 200)
    with torch.no_grad():
        accuracy = (net(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.9, f"tiny model failed to train ({accuracy:.2f})"
    return net


@pytest.fixture(scope="session")
def audit_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, int]:
    """Run the CLI once on case01 (with SEG) and case05 (without) and a broken case."""
    root = tmp_path_factory.mktemp("audit")
    dataset = root / "dataset"
    for case in ("case01", "case05"):
        shutil.copytree(SAMPLES / case, dataset / case)
    (dataset / "empty_case").mkdir()
    spec = write_tiny_spec(root)
    parser = argparse.ArgumentParser()
    add_audit_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args([
        "audit", str(dataset), "--model", str(spec), "--methods", ",".join(METHODS),
        "--out", str(root / "out"), "--steps", "8", "--road-fractions", "0.2,0.6",
        "--target", "lesion", "--no-progress", "--quiet"])
    code = run_audit_command(args)
    result = json.loads((root / "out" / "metrics.json").read_text())
    return root / "out", result, code
