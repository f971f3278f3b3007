"""Deep supervision, evaluation and classifier refit for the demo-model training.

See ``scripts/train_demo_models.py`` for why a nodule classifier with a global
average pool needs per-cell supervision, and how these pieces are used.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from demo_data import Case
from monai.networks.nets import DenseNet


def stack(cases: list[Case], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, *input_size) inputs and (N,) labels."""
    return (torch.stack([c.x for c in cases])[:, None],
            torch.tensor([c.label for c in cases], device=device))


def cell_centres(cell_shape: tuple[int, ...], input_shape: tuple[int, ...],
                 device: torch.device) -> torch.Tensor:
    """Input-grid index of each feature cell's centre, shaped ``cell_shape + (ndim,)``."""
    stride = np.asarray(input_shape) / np.asarray(cell_shape)
    axes = [(torch.arange(n, device=device) + 0.5) * float(s) - 0.5
            for n, s in zip(cell_shape, stride, strict=True)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


def cell_targets(cases: list[Case], cell_shape: tuple[int, ...], input_shape: tuple[int, ...],
                 spacing: float, device: torch.device) -> torch.Tensor:
    """1 for feature cells whose centre lies within the nodule radius + half a cell."""
    stride = np.asarray(input_shape) / np.asarray(cell_shape)
    centres = cell_centres(cell_shape, input_shape, device)
    out = torch.zeros(len(cases), *cell_shape, device=device)
    for n, case in enumerate(cases):
        if case.nodule_index is not None and case.nodule_radius_mm is not None:
            where = torch.as_tensor(case.nodule_index, dtype=torch.float32, device=device)
            dist = ((centres - where) * spacing).norm(dim=-1)
            out[n] = (dist <= case.nodule_radius_mm + stride.max() * spacing / 2).float()
    return out


def cell_loss(evidence: torch.Tensor, target: torch.Tensor, level: float) -> torch.Tensor:
    """Per-cell evidence: ``level`` or more in nodule cells, zero elsewhere.

    Squared errors, nodule and background cells weighted equally. Zero (not merely
    negative) background evidence is what a global average pool needs: a nodule's few
    cells then stand out in the mean, instead of drowning in the background's spread.
    """
    return _balanced(torch.relu(level - evidence) ** 2, evidence**2, target) / level**2


def cell_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy per cell (``--cell-head separate``), classes weighted equally."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return _balanced(bce, bce, target)


def _balanced(in_nodule: torch.Tensor, outside: torch.Tensor, target: torch.Tensor
              ) -> torch.Tensor:
    """Batch mean of (mean ``in_nodule`` over nodule cells + mean ``outside`` elsewhere)."""
    in_nodule, outside, target = in_nodule.flatten(1), outside.flatten(1), target.flatten(1)
    pos = (in_nodule * target).sum(1) / target.sum(1).clamp(min=1)
    neg = (outside * (1 - target)).sum(1) / (1 - target).sum(1)
    return (pos + neg).mean()


@torch.no_grad()
def evaluate(net: DenseNet, cases: list[Case], spacing: float,
             device: torch.device) -> dict[str, float]:
    """Accuracy, and CAM-peak-to-nodule distances (mm) on the cases with a nodule.

    The CAM is the closed form of the GAP + linear head (lesion weights applied to the
    rectified features of each cell); its peak is the centre of the hottest cell.
    """
    net.eval()
    weight = net.class_layers.out.weight[1]
    correct, dists = 0, []
    for n in range(0, len(cases), 8):
        chunk = cases[n:n + 8]
        x, y = stack(chunk, device)
        feats = net.features(x)
        correct += int((net.class_layers(feats).argmax(1) == y).sum())
        centres = cell_centres(tuple(feats.shape[2:]), tuple(x.shape[2:]), device)
        centres = centres.reshape(-1, centres.shape[-1]).cpu().numpy()
        for case, f in zip(chunk, feats, strict=True):
            if case.nodule_index is None:
                continue
            cam = torch.einsum("k...,k->...", torch.relu(f), weight)
            centre = centres[int(cam.argmax())]
            dists.append(float(np.linalg.norm((centre - case.nodule_index) * spacing)))
    net.train()
    d = np.array(dists) if dists else np.array([np.nan])
    return {"accuracy": correct / len(cases), "cam_peak_mm_median": float(np.median(d)),
            "cam_peak_mm_p90": float(np.quantile(d, 0.9)),
            "cam_peak_within_10mm": float((d <= 10.0).mean())}


@torch.no_grad()
def refit_head(net: DenseNet, cases: list[Case], device: torch.device,
               pull: float = 1e-4) -> None:
    """Refit the classifier by logistic regression on the frozen, pooled features.

    The per-cell loss leaves the lesion-minus-normal weights pointing at the nodule
    channels, but the background keeps some evidence and the nodule's cells are about
    1/1000 of a CT grid, so the trained head separates the classes poorly. A logistic
    regression on the globally pooled features of ``cases`` (eval-mode batch norm, as
    at inference), pulled towards the trained direction by ``pull`` times the squared
    distance, gives the weight difference ``w`` and bias ``c``; the head becomes
    ``+-w / 2`` and ``+-c / 2``. Measured on CT (128 cases, half held out): 86 % held-out
    accuracy against 58 % before, with the CAM peak still within 10 mm of the nodule
    in 90 % of the cases.
    """
    net.eval()
    pooled = []
    for n in range(0, len(cases), 8):
        x, _ = stack(cases[n:n + 8], device)
        pooled.append(torch.relu(net.features(x)).flatten(2).mean(2).double().cpu())
    features = torch.cat(pooled)
    labels = torch.tensor([c.label for c in cases], dtype=torch.float64)
    head = net.class_layers.out
    trained = (head.weight[1] - head.weight[0]).double().cpu()
    w = trained.clone().requires_grad_(True)
    c = torch.zeros((), dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        lbfgs = torch.optim.LBFGS([w, c], max_iter=500, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            lbfgs.zero_grad()
            loss = F.binary_cross_entropy_with_logits(features @ w + c, labels)
            loss = loss + pull * ((w - trained) ** 2).sum()
            loss.backward()
            return loss

        lbfgs.step(closure)
    w = w.detach().to(head.weight.dtype).to(device)
    head.weight.copy_(torch.stack([-w / 2, w / 2]))
    head.bias.copy_(torch.tensor([-float(c) / 2, float(c) / 2], device=device))
    net.train()
