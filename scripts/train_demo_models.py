"""Train the built-in demo models on the virtual scanner and write weights + specs.

Run once (weights are committed). The committed weights came from::

    # demo-dx2d: 40 min on one CPU core (10,267 steps of batch 8)
    python scripts/train_demo_models.py dx2d --minutes 40 --threads 1 --pool 32 \
        --renew-every 50 --val-size 48 --eval-every 240
    # demo-ct3d, stage 1: 2.3 min on an H200 (808 steps of batch 16)
    python scripts/train_demo_models.py ct3d --device cuda --minutes 2.3 --batch 16 \
        --pool 64 --renew-every 2 --val-size 96 --max-voxels 20000000 --cell-head separate
    # stage 2: 20 min on one CPU core (146 steps of batch 8), per-cell loss on the CAM
    python scripts/train_demo_models.py ct3d --init STAGE1.pt --minutes 100 --threads 1 \
        --pool 16 --renew-every 10 --val-size 32 --eval-every 1200   # stopped at 20 min
    # stage 3: classifier refit on 256 fresh cases
    python scripts/train_demo_models.py ct3d --init STAGE2.pt --minutes 0 --refit 256 \
        --val-size 64

(stage 2 was stopped at its first checkpoint: by the second, 150 steps later, with
the full 6-30 mm range in play, the CAM peaks had drifted off the nodules). Training cases come
from ``scripts/demo_data.py``: synthetic chests acquired on random geometries and
brought onto the model grid exactly as ``medcam.model.preprocess.prepare`` does.

Network: stock MONAI DenseNets with one dense block, so the features (and the CAM)
sit at a quarter of the input resolution: 10 mm cells for CT (128^3 at 2.5 mm), 11 mm
for DX (128^2 at 2.8 mm), fine enough for the CAM peak to land near the nodule.

Why the training needs help: a 20 mm nodule fills about 1/4000 of the chest, so
through the global average pool the classification loss tells each feature cell
almost nothing, and a plain cross-entropy run stays at chance for hundreds of steps
(measured: 860 steps of batch 16 on a GPU, loss 0.693 throughout). Deep supervision
fixes it, on the CAM itself: the classifier's lesion-minus-normal weights applied to
the rectified features of each cell (the CAM of the GAP + linear head) must reach
``--cell-level`` in the cells that hold the nodule and be zero elsewhere (squared
errors, nodule and background cells weighted equally). Zero, not merely negative,
background evidence is what the average pool needs for a nodule's few cells to stand
out. Two variants that failed, measured: a separate 1x1 head trained to localise (the
classifier then leaned on other channels; its CAM peak landed a median 26 mm from the
nodule), and per-cell cross-entropy on the CAM (background pushed negative by any
amount: the classifier stayed at chance). Nothing is added to the network, so the
saved model is the stock MONAI DenseNet. Loss = classifier cross-entropy +
``--cell-loss`` x the per-cell loss; AdamW; the learning rate warms up over 3 % of
the time budget and then follows a cosine to zero; nodules start at 16 mm and reach
the full 6-30 mm range at 40 % of the budget.

A fixed held-out set (fresh chests, full nodule range) is scored every
``--eval-every`` seconds: accuracy, and for cases with a nodule the distance from
the CAM peak (closed form for the GAP + linear head) to the nodule centre. Weights and
spec (with its sha256 and these numbers) are written at each evaluation, so a run cut
short still leaves a usable model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from demo_data import SOURCES, Case
from demo_supervision import cell_bce, cell_loss, cell_targets, evaluate, refit_head, stack
from monai.networks.nets import DenseNet

from medcam.model.spec import IntensityWindow, ModelSpec

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["no_lesion", "lesion"]
NETWORK = {"init_features": 24, "growth_rate": 16, "block_config": [6], "bn_size": 2,
           "in_channels": 1, "out_channels": 2}
CONFIGS = {
    "ct3d": {
        "name": "demo-ct3d", "version": "2.0", "network": "DenseNet",
        "network_args": {"spatial_dims": 3, **NETWORK},
        "class_names": CLASSES, "spatial_dims": 3, "input_size": [128, 128, 128],
        "input_spacing": [2.5, 2.5, 2.5],
        "intensity": {"mode": "window", "low": -1000.0, "high": 400.0},
        "target_layer": "class_layers.relu", "modalities": ["CT"], "outside_value": -1000.0,
        "description": "3D CT lung nodule classifier (synthetic demo, MONAI DenseNet with "
                       "one dense block, 128^3 at 2.5 mm)",
    },
    "dx2d": {
        "name": "demo-dx2d", "version": "2.0", "network": "DenseNet",
        "network_args": {"spatial_dims": 2, **NETWORK},
        "class_names": CLASSES, "spatial_dims": 2, "input_size": [128, 128],
        "input_spacing": [2.8, 2.8],
        "intensity": {"mode": "percentile", "low": 0.5, "high": 99.5},
        "target_layer": "class_layers.relu", "modalities": ["DX", "CR"], "outside_value": None,
        "description": "2D chest radiograph nodule classifier (synthetic demo, MONAI "
                       "DenseNet with one dense block, 128^2 at 2.8 mm)",
    },
}


def _spec(cfg: dict) -> ModelSpec:
    """A spec for grids and intensities only (weights not needed)."""
    keys = ("name", "version", "class_names", "spatial_dims", "input_size", "input_spacing",
            "outside_value", "network", "network_args")
    return ModelSpec(weights=Path("unused.pt"), sha256="0" * 64,
                     intensity=IntensityWindow(**cfg["intensity"]),
                     **{k: cfg[k] for k in keys})


def save(net: DenseNet, cfg: dict, out: Path, training: dict) -> None:
    """Write ``out/weights/NAME.pt`` and ``out/specs/NAME.json`` (with the sha256).

    The classifier is centred first: the part of the weights and bias common to both
    classes is removed. Softmax outputs are unchanged (every logit moves by the same
    amount), and the lesion class's own weights become half the lesion-minus-normal
    difference that the per-cell loss trained, so its CAM shows that evidence.
    """
    (out / "weights").mkdir(parents=True, exist_ok=True)
    (out / "specs").mkdir(parents=True, exist_ok=True)
    wpath = out / "weights" / f"{cfg['name']}.pt"
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    for key in ("class_layers.out.weight", "class_layers.out.bias"):
        state[key] -= state[key].mean(0, keepdim=True)
    torch.save(state, wpath)
    spec = {**cfg, "weights": f"../weights/{wpath.name}",
            "sha256": hashlib.sha256(wpath.read_bytes()).hexdigest()}
    spec["description"] = f"{cfg['description']}; training: {json.dumps(training)}"
    (out / "specs" / f"{cfg['name']}.json").write_text(json.dumps(spec, indent=2) + "\n")


def train(args: argparse.Namespace) -> dict:
    """Train one model for ``args.minutes`` and return its last evaluation."""
    device = torch.device(args.device if args.device != "auto" else
                          ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(args.seed)
    cfg = CONFIGS[args.kind]
    spec = _spec(cfg)
    spacing = float(cfg["input_spacing"][0])
    net = DenseNet(**cfg["network_args"]).to(device)
    if args.init is not None:
        net.load_state_dict(torch.load(args.init, weights_only=True, map_location=device))
    conv = torch.nn.Conv3d if cfg["spatial_dims"] == 3 else torch.nn.Conv2d
    separate = conv(net.class_layers.out.in_features, 1, 1).to(device)  # training only
    params = [*net.parameters(), *(separate.parameters() if args.cell_head == "separate"
                                   else ())]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    t0 = time.time()
    source = SOURCES[args.kind]
    held_out = source(spec, np.random.default_rng(10_000 + args.seed), device,
                      pool_size=args.val_size // 2, max_voxels=args.max_voxels)
    val_rng = np.random.default_rng(20_000 + args.seed)
    val = [held_out.case(val_rng) for _ in range(args.val_size)]
    rng = np.random.default_rng(args.seed)
    budget = args.minutes * 60.0
    pool = args.pool if budget > 0 else 0  # a refit alone needs no training pool
    data = source(spec, rng, device, pool_size=pool, max_voxels=args.max_voxels)
    print(f"{args.kind}: device {device}, pool of {pool} and held-out set of "
          f"{args.val_size} rendered in {time.time() - t0:.0f} s", flush=True)
    amp = device.type == "cuda"
    t0 = last_log = last_eval = time.time()
    step, run = 0, {"ce": math.log(2), "cells": 1.4, "acc": 0.5}
    while (elapsed := time.time() - t0) < budget:
        frac = elapsed / budget
        lr = args.lr * min(1.0, frac / 0.03) * 0.5 * (1 + math.cos(math.pi * frac))
        for group in opt.param_groups:
            group["lr"] = lr
        if step % args.renew_every == 0:
            data.renew(rng)
        cases = [data.case(rng, frac) for _ in range(args.batch)]
        x, y = stack(cases, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            feats = net.features(x)
            out = net.class_layers(feats)
            if args.cell_head == "separate":
                per_cell = separate(torch.relu(feats))[:, 0]
            else:
                head = net.class_layers.out.weight
                per_cell = torch.einsum("nk...,k->n...", torch.relu(feats),
                                        head[1] - head[0])
        target = cell_targets(cases, tuple(per_cell.shape[1:]), tuple(x.shape[2:]), spacing,
                              device)
        ce = F.cross_entropy(out.float(), y)
        aux = cell_bce(per_cell.float(), target) if args.cell_head == "separate" else \
            cell_loss(per_cell.float(), target, args.cell_level)
        opt.zero_grad(set_to_none=True)
        (ce + args.cell_loss * aux).backward()
        opt.step()
        step += 1
        for key, value in (("ce", ce.item()), ("cells", aux.item()),
                           ("acc", (out.argmax(1) == y).float().mean().item())):
            run[key] = 0.95 * run[key] + 0.05 * value
        now = time.time()
        if now - last_log >= args.log_every:
            print(f"{args.kind} step {step} {now - t0:.0f}s ({step / (now - t0):.2f} steps/s) "
                  f"lr {lr:.2e} " + " ".join(f"{k} {v:.3f}" for k, v in run.items()),
                  flush=True)
            last_log = now
        if now - last_eval >= args.eval_every:
            _checkpoint(net, cfg, args, val, step, now - t0, device)
            last_eval = time.time()
    if args.refit:
        refit_source = source(spec, np.random.default_rng(30_000 + args.seed), device,
                              pool_size=max(1, args.refit // 4), max_voxels=args.max_voxels)
        refit_rng = np.random.default_rng(40_000 + args.seed)
        refit_head(net, [refit_source.case(refit_rng) for _ in range(args.refit)], device)
        print(f"{args.kind}: classifier refit on {args.refit} cases", flush=True)
    return _checkpoint(net, cfg, args, val, step, time.time() - t0, device)


def _checkpoint(net: DenseNet, cfg: dict, args: argparse.Namespace, val: list[Case],
                step: int, seconds: float, device: torch.device) -> dict:
    metrics = evaluate(net, val, float(cfg["input_spacing"][0]), device)
    training = {"steps": step, "batch": args.batch, "lr": args.lr, "seed": args.seed,
                "cell_loss": args.cell_loss, "cell_head": args.cell_head,
                "cell_level": args.cell_level,
                "head_refit_cases": args.refit, "seconds": round(seconds), "device": str(device),
                "held_out": {"cases": len(val), **{k: round(v, 3) for k, v in metrics.items()}}}
    save(net, cfg, args.out, training)
    print(f"{args.kind} eval step {step}: {json.dumps(metrics)}", flush=True)
    return metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=sorted(CONFIGS))
    ap.add_argument("--minutes", type=float, default=60.0, help="training time budget")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--cell-loss", type=float, default=1.0,
                    help="weight of the per-cell deep supervision (0: plain cross-entropy)")
    ap.add_argument("--cell-head", choices=("cam", "separate"), default="cam",
                    help="per-cell loss on the CAM itself, or cross-entropy on a separate "
                         "1x1 head (stage 1 of demo-ct3d)")
    ap.add_argument("--cell-level", type=float, default=4.0,
                    help="lesion-minus-normal evidence asked of nodule cells")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pool", type=int, default=32, help="pooled nodule-free acquisitions")
    ap.add_argument("--renew-every", type=int, default=4, help="steps per pool renewal")
    ap.add_argument("--val-size", type=int, default=48)
    ap.add_argument("--max-voxels", type=int, default=3_000_000,
                    help="largest simulated CT acquisition (coarser spacing above it)")
    ap.add_argument("--log-every", type=float, default=30.0, help="seconds")
    ap.add_argument("--eval-every", type=float, default=300.0, help="seconds")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--init", type=Path, default=None, help="start from these weights")
    ap.add_argument("--refit", type=int, default=0,
                    help="refit the classifier on this many fresh cases at the end")
    ap.add_argument("--out", type=Path, default=ROOT / "medcam" / "model",
                    help="writes OUT/weights/NAME.pt and OUT/specs/NAME.json "
                         "(default: the package's own folders)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    metrics = train(args)
    print(f"{args.kind} final: {json.dumps(metrics)}", flush=True)


if __name__ == "__main__":
    main()
