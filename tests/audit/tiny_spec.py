"""A tiny MONAI 3D ResNet with a model spec, written at test time (random weights)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from monai.networks.nets import ResNet

NETWORK_ARGS = {"block": "basic", "layers": [1, 1, 1, 1], "block_inplanes": [4, 8, 8, 8],
                "spatial_dims": 3, "n_input_channels": 1, "conv1_t_size": 3,
                "conv1_t_stride": 2, "no_max_pool": True, "num_classes": 2}


def write_tiny_spec(folder: Path, seed: int = 0) -> Path:
    """Write ``tiny.pt`` and ``tiny.json`` (16^3 input at 20 mm) and return the spec path."""
    torch.manual_seed(seed)
    net = ResNet(**NETWORK_ARGS)
    weights = folder / "tiny.pt"
    torch.save(net.state_dict(), weights)
    spec = {"name": "tiny-ct3d", "version": "0", "network": "ResNet",
            "network_args": NETWORK_ARGS, "weights": weights.name,
            "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
            "class_names": ["no_lesion", "lesion"], "spatial_dims": 3,
            "input_size": [16, 16, 16], "input_spacing": [20.0, 20.0, 20.0],
            "intensity": {"mode": "window", "low": -1000.0, "high": 400.0},
            "target_layer": "layer1", "modalities": ["CT"], "outside_value": -1000.0}
    path = folder / "tiny.json"
    path.write_text(json.dumps(spec))
    return path
