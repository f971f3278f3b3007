"""Train the built-in demo models on synthetic phantoms and write weights + specs.

Run once (weights are committed): ``python scripts/train_demo_models.py [ct3d|dx2d]``.
Data are generated on the fly on each model's own input grid from the analytic chest
phantom of :mod:`medcam.synthetic.phantom`, with randomised anatomy, nodule (6-30 mm,
in lung or soft tissue), partial-volume edge width, acquisition blur along a random
axis, noise and partial scan coverage, so the model sees what ``medcam.model.preprocess``
produces from series of any orientation and spacing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from monai.networks.nets import DenseNet
from scipy.ndimage import gaussian_filter
from torch.utils.data import DataLoader, IterableDataset

from medcam.model.grid import canonical_grid
from medcam.synthetic.phantom import (
    ChestPhantom,
    random_nodule,
    random_phantom,
    render_radiograph,
)

ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR = ROOT / "medcam" / "model" / "specs"
WEIGHTS_DIR = ROOT / "medcam" / "model" / "weights"
CLASSES = ["no_lesion", "lesion"]

CT3D = {
    "name": "demo-ct3d", "version": "1.0", "network": "DenseNet",
    "network_args": {"spatial_dims": 3, "in_channels": 1, "out_channels": 2,
                     "init_features": 16, "growth_rate": 16, "block_config": [4], "bn_size": 2},
    "class_names": CLASSES, "spatial_dims": 3, "input_size": [64, 64, 64],
    "input_spacing": [5.0, 5.0, 5.0],
    "intensity": {"mode": "window", "low": -1000.0, "high": 400.0},
    "target_layer": "features", "modalities": ["CT"], "outside_value": -1000.0,
    "description": "3D CT lung nodule classifier (synthetic demo, shallow MONAI DenseNet, 64^3 at 5 mm)",
}
DX2D = {
    "name": "demo-dx2d", "version": "1.0", "network": "DenseNet",
    "network_args": {"spatial_dims": 2, "in_channels": 1, "out_channels": 2,
                     "init_features": 16, "growth_rate": 16, "block_config": [4], "bn_size": 2},
    "class_names": CLASSES, "spatial_dims": 2, "input_size": [128, 128],
    "input_spacing": [2.8, 2.8],
    "intensity": {"mode": "percentile", "low": 0.5, "high": 99.5},
    "target_layer": "features", "modalities": ["DX", "CR"], "outside_value": None,
    "description": "2D chest radiograph nodule classifier (synthetic demo, shallow MONAI DenseNet, 128^2 at 2.8 mm)",
}


def ct_sample(rng: np.random.Generator, progress: float = 1.0
              ) -> tuple[np.ndarray, int, np.ndarray]:
    """One (volume in [0,1], label, nodule centre index + radius) on the 64^3 5 mm grid.

    ``progress`` in [0, 1] drives a curriculum: large lung nodules first, the full
    6-30 mm range (a quarter of them in soft tissue) from 60 % of training on.
    """
    phantom = random_phantom(rng)
    label = int(rng.uniform() < 0.5)
    center = np.asarray(phantom.center) + rng.uniform([-20, -20, -40], [20, 20, 40])
    grid = canonical_grid(center, (64, 64, 64), (5.0, 5.0, 5.0))
    nod_idx = np.full(4, -1.0)
    if label:
        ease = min(1.0, progress / 0.6)
        low = 20.0 - 14.0 * ease
        nodule = random_nodule(phantom, rng, diameter_mm=(low, 30.0),
                               p_lung=1.0 - 0.25 * ease)
        # contrast curriculum: lung nodules start bright (calcified-like) and fade to
        # solid-tissue attenuation by 60 % of training
        nodule = replace(nodule, hu=nodule.hu + 900.0 * (1.0 - ease) * nodule.in_lung)
        phantom = ChestPhantom(**{**phantom.__dict__, "nodule": nodule})
        nod_idx = np.r_[grid.lps_to_index(nodule.center), max(nodule.radii) / 5.0]
    vol = phantom.evaluate(grid.voxel_centers(), edge_mm=float(rng.uniform(1.0, 3.0)))
    sigma = rng.uniform(0.15, 0.45, 3)
    sigma[rng.integers(3)] = rng.uniform(0.2, 0.8)
    vol = gaussian_filter(vol, sigma) + rng.normal(0, rng.uniform(2, 15), vol.shape)
    if rng.uniform() < 0.3:  # partial coverage along a random axis
        axis, keep = rng.integers(3), int(rng.uniform(36, 64))
        start = rng.integers(0, 64 - keep + 1)
        sl = [slice(None)] * 3
        sl[axis] = np.r_[0:start, start + keep:64]
        vol[tuple(sl)] = -1000.0
    x = np.clip((vol + 1000.0) / 1400.0, 0, 1).astype(np.float32)
    return x[None], label, nod_idx


def _nodule_projection(nodule, shape, spacing, center) -> np.ndarray:
    """Line integral (mm * mu/1000) of the nodule's attenuation change along y."""
    rows, cols = shape
    zs = center[2] + (np.arange(rows) - (rows - 1) / 2) * -spacing
    xs = center[0] + (np.arange(cols) - (cols - 1) / 2) * spacing
    r = max(nodule.radii) + 2
    zi = np.where(np.abs(zs - nodule.center[2]) < r)[0]
    xi = np.where(np.abs(xs - nodule.center[0]) < r)[0]
    out = np.zeros(shape)
    if len(zi) == 0 or len(xi) == 0:
        return out
    ys = nodule.center[1] + np.arange(-r, r, 0.5)
    zz, xx, yy = np.meshgrid(zs[zi], xs[xi], ys, indexing="ij")
    pts = np.stack([xx, yy, zz], -1)
    rot = np.asarray(nodule.rotation).reshape(3, 3)
    q = np.sqrt(((((pts - np.asarray(nodule.center)) @ rot) / np.asarray(nodule.radii)) ** 2).sum(-1))
    w = 0.5 * (1 - np.tanh((q - 1) * min(nodule.radii) / 0.6))
    delta = (nodule.hu + 850.0) if nodule.in_lung else nodule.hu
    out[np.ix_(zi, xi)] = (w * delta / 1000.0).sum(-1) * 0.5
    return out


def dx_sample(rng: np.random.Generator, pool: list[tuple[ChestPhantom, np.ndarray]]
              ) -> tuple[np.ndarray, int, np.ndarray]:
    """One radiograph in [0,1] on the 128^2 2.8 mm grid from a pool of base projections."""
    phantom, total = pool[rng.integers(len(pool))]
    label = int(rng.uniform() < 0.5)
    total = total.copy()
    nod_idx = np.full(3, -1.0)
    if label:
        nodule = random_nodule(phantom, rng)
        total += _nodule_projection(nodule, total.shape, 2.8, phantom.center)
        c = np.asarray(phantom.center)
        nod_idx = np.array([(c[2] - nodule.center[2]) / 2.8 + 63.5,
                            (nodule.center[0] - c[0]) / 2.8 + 63.5, max(nodule.radii) / 2.8])
    img = 1.0 - np.exp(-total / 180.0)
    img = gaussian_filter(img, rng.uniform(0.3, 1.0)) + rng.normal(0, rng.uniform(0.003, 0.015),
                                                                     img.shape)
    lo, hi = np.percentile(img, [0.5, 99.5])
    x = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)
    if rng.uniform() < 0.5:
        x, nod_idx = x[:, ::-1].copy(), np.array([nod_idx[0], 127 - nod_idx[1], nod_idx[2]]) if label else nod_idx
    return x[None], label, nod_idx


def _cell_mask(where: torch.Tensor, y: torch.Tensor, in_shape: torch.Size,
               cell_shape: torch.Size) -> torch.Tensor:
    """1 for feature cells whose centre lies within the nodule radius + half a cell."""
    stride = torch.tensor([i / c for i, c in zip(in_shape, cell_shape, strict=False)])
    axes = [(torch.arange(c) + 0.5) * s - 0.5 for c, s in zip(cell_shape, stride, strict=False)]
    centres = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)
    ndim = len(cell_shape)
    out = torch.zeros(len(y), *cell_shape)
    for n in range(len(y)):
        if y[n]:
            radius = where[n, ndim] if where.shape[1] > ndim else torch.tensor(2.0)
            d = (centres - where[n, :ndim]).norm(dim=-1)
            out[n] = (d <= radius + stride.max() / 2).float()
    return out


class Stream(IterableDataset):
    def __init__(self, kind: str, seed: int, pool=None, progress=None) -> None:
        self.kind, self.seed, self.pool, self.progress = kind, seed, pool, progress

    def __iter__(self) -> Iterator:
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        while True:
            if self.kind == "ct3d":
                x, y, where = ct_sample(rng, self.progress.value)
            else:
                x, y, where = dx_sample(rng, self.pool)
            yield torch.from_numpy(x), y, torch.from_numpy(where.astype(np.float32))


def dx_pool(n: int, seed: int) -> list[tuple[ChestPhantom, np.ndarray]]:
    rng = np.random.default_rng(seed)
    pool = []
    for _ in range(n):
        ph = random_phantom(rng)
        img = render_radiograph(ph, (128, 128), 2.8, None, depth_step_mm=3.0)
        pool.append((ph, -180.0 * np.log(np.clip(1.0 - img, 1e-6, 1))))
    return pool


def _accuracy(net: torch.nn.Module, kind: str, pool, n: int, seed: int = 99) -> float:
    """Accuracy on ``n`` fresh phantoms (full nodule range) in eval mode."""
    net.eval()
    rng = np.random.default_rng(seed)
    correct = 0
    with torch.no_grad():
        for _ in range(n):
            x, y, _ = ct_sample(rng) if kind == "ct3d" else dx_sample(rng, pool)
            correct += int(net(torch.from_numpy(x)[None]).argmax(1).item() == y)
    return correct / n


def train(kind: str, steps: int, batch: int, lr: float, seed: int = 0,
          resume: bool = False, cell_loss_weight: float = 0.0) -> None:
    torch.manual_seed(seed)
    cfg = CT3D if kind == "ct3d" else DX2D
    net = DenseNet(**cfg["network_args"])
    if resume:  # continue from the committed weights (a second training stage)
        net.load_state_dict(torch.load(WEIGHTS_DIR / f"{cfg['name']}.pt", weights_only=True))
        seed += 1000
    pool = dx_pool(160, seed + 1) if kind == "dx2d" else None
    val_pool = dx_pool(40, seed + 2) if kind == "dx2d" else None
    progress = mp.Value("d", 0.0)
    loader = DataLoader(Stream(kind, seed, pool, progress), batch_size=batch, num_workers=2,
                        prefetch_factor=2)
    # Deep supervision during training only: the classifier applied at every location of
    # the last feature map (its CAM) is told which cells hold the nodule, so the GAP logits
    # learn from a local signal (a GAP head alone learns small lesions very slowly). It
    # adds no module: the saved model is the stock MONAI network.
    feats: dict[str, torch.Tensor] = {}
    net.features.register_forward_hook(lambda m, i, o: feats.__setitem__("f", o))
    params = list(net.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    lossf = torch.nn.CrossEntropyLoss()
    net.train()
    t0, run_loss, run_acc = time.time(), 0.0, 0.0
    for step, (x, y, where) in enumerate(loader, 1):
        out = net(x)
        fc = net.class_layers.out
        w, b = fc.weight[1] - fc.weight[0], fc.bias[1] - fc.bias[0]
        cam = torch.einsum("nk...,k->n...", torch.relu(feats["f"]), w) + b
        target = _cell_mask(where, y, x.shape[2:], cam.shape[1:])
        loss = lossf(out, y)
        if cell_loss_weight > 0:
            loss = loss + cell_loss_weight * torch.nn.functional.binary_cross_entropy_with_logits(
                cam, target, pos_weight=torch.tensor(10.0))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        progress.value = 1.0 if resume else step / steps
        run_loss = 0.98 * run_loss + 0.02 * loss.item()
        run_acc = 0.98 * run_acc + 0.02 * (out.argmax(1) == y).float().mean().item()
        if step % 50 == 0:
            print(f"{kind} step {step} loss {run_loss:.3f} acc {run_acc:.3f} "
                  f"{time.time() - t0:.0f}s", flush=True)
        if step % 100 == 0:
            held_out = _accuracy(net, kind, val_pool, 48)
            print(f"{kind} step {step} held-out accuracy {held_out:.3f}", flush=True)
            _save(net, cfg, {"steps": step, "batch": batch, "lr": lr, "seed": seed,
                             "held_out_accuracy_48": held_out})
            net.train()
        if step >= steps:
            break
    n_val = 200
    accuracy = _accuracy(net, kind, val_pool, n_val)
    print(f"{kind} validation accuracy {accuracy:.3f} on {n_val} fresh phantoms", flush=True)
    _save(net, cfg, {"steps": steps, "batch": batch, "lr": lr, "seed": seed,
                     "validation_accuracy_200": accuracy})


def _save(net: torch.nn.Module, cfg: dict, training: dict) -> None:
    """Write the weights and the spec (with their sha256) into the package."""
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    SPEC_DIR.mkdir(parents=True, exist_ok=True)
    wpath = WEIGHTS_DIR / f"{cfg['name']}.pt"
    torch.save(net.state_dict(), wpath)
    spec = {**cfg, "weights": f"../weights/{wpath.name}",
            "sha256": hashlib.sha256(wpath.read_bytes()).hexdigest()}
    spec["description"] = f"{cfg['description']}; training: {json.dumps(training)}"
    (SPEC_DIR / f"{cfg['name']}.json").write_text(json.dumps(spec, indent=2) + "\n")
    print(f"wrote {wpath} ({wpath.stat().st_size} bytes)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("kind", choices=["ct3d", "dx2d"])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", action="store_true", help="start from the current weights")
    ap.add_argument("--cell-loss-weight", type=float, default=0.0,
                    help="weight of the per-location supervision (0: plain cross-entropy; "
                         "a positive weight kept the models at chance in our runs)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train(args.kind, args.steps, args.batch, args.lr, resume=args.resume,
          cell_loss_weight=args.cell_loss_weight)


if __name__ == "__main__":
    main()
