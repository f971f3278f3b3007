"""Report figures (matplotlib, Agg, no pyplot state), returned as base64 PNG strings."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from medcam.audit.evaluate import Overlay

__all__ = ["curves_png", "overlay_png", "sanity_png", "times_png"]

#: Display window of CT slices (HU): lung window, level -600, width 1500.
CT_WINDOW = (-1350.0, 150.0)


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _colors(methods: Sequence[str]) -> dict[str, Any]:
    cmap = mpl.colormaps["tab10"]
    return {m: cmap(i % 10) for i, m in enumerate(methods)}


def curves_png(aggregate: Mapping[str, Any], methods: Sequence[str]) -> str | None:
    """Mean deletion, insertion and ROAD curves per method (one panel each)."""
    have = [m for m in methods if aggregate[m].get("curves")]
    if not have:
        return None
    colors = _colors(methods)
    fig = Figure(figsize=(13, 3.8))
    axes = fig.subplots(1, 3)
    for m in have:
        c = aggregate[m]["curves"]
        axes[0].plot(c["fractions"], c["deletion"], color=colors[m], label=m)
        axes[1].plot(c["fractions"], c["insertion"], color=colors[m], label=m)
        axes[2].plot(c["road_fractions"], c["road_morf"], "-o", color=colors[m], ms=3,
                     label=f"{m} MoRF")
        axes[2].plot(c["road_fractions"], c["road_lerf"], "--s", color=colors[m], ms=3,
                     label=f"{m} LeRF")
    titles = ("Deletion (lower AUC is better)", "Insertion (higher AUC is better)",
              "ROAD: MoRF low, LeRF high")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("fraction of voxels")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("p(target), mean over cases")
    axes[0].legend(fontsize=8)
    axes[2].legend(fontsize=7, ncol=2)
    return _png(fig)


def sanity_png(aggregate: Mapping[str, Any], methods: Sequence[str]) -> str | None:
    """Mean Spearman correlation with the trained map as blocks are randomised."""
    have = [m for m in methods if aggregate[m].get("sanity")]
    if not have:
        return None
    colors = _colors(methods)
    fig = Figure(figsize=(7, 3.8))
    ax = fig.subplots()
    for m in have:
        s = aggregate[m]["sanity"]
        labels = ["trained", *s["blocks"]]
        ax.plot(range(len(labels)), [1.0, *s["spearman_mean"]], "-o", color=colors[m],
                label=f"{m} (n={s['n']})")
        ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)
    ax.axhline(0.0, color="gray", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("Spearman rho vs trained map")
    ax.set_title("Cascading randomisation (logits downward): should fall", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def times_png(aggregate: Mapping[str, Any], methods: Sequence[str]) -> str:
    """Mean seconds per case: CAM computation and metrics, per method."""
    cam_t = [aggregate[m]["time_s"]["cam"]["mean"] or 0.0 for m in methods]
    met_t = [aggregate[m]["time_s"]["metrics"]["mean"] or 0.0 for m in methods]
    fig = Figure(figsize=(7, 0.5 + 0.45 * len(methods)))
    ax = fig.subplots()
    y = np.arange(len(methods))
    ax.barh(y, cam_t, color="tab:blue", label="CAM")
    ax.barh(y, met_t, left=cam_t, color="tab:gray", alpha=0.6, label="metrics")
    ax.set_yticks(y, list(methods))
    ax.invert_yaxis()
    ax.set_xlabel("seconds per case (mean)")
    ax.legend(fontsize=8)
    return _png(fig)


def overlay_png(overlays: Sequence[Overlay], modality: str) -> str:
    """One panel per method: the hottest slice, the map, and the ground-truth contour."""
    fig = Figure(figsize=(2.6 * len(overlays), 2.9))
    axes = np.atleast_1d(fig.subplots(1, len(overlays)))
    for ax, ov in zip(axes, overlays, strict=True):
        if modality.upper() == "CT":
            low, high = CT_WINDOW
        else:
            low, high = (float(v) for v in np.percentile(ov.image, [1, 99]))
        ax.imshow(ov.image, cmap="gray", vmin=low, vmax=high, aspect=ov.aspect,
                  interpolation="nearest")
        heat = np.ma.masked_less(ov.heat, 0.05)
        ax.imshow(heat, cmap="jet", vmin=0, vmax=1, alpha=0.45, aspect=ov.aspect,
                  interpolation="bilinear")
        if ov.mask_projection is not None and ov.mask_projection.any():
            ax.contour(ov.mask_projection.astype(float), levels=[0.5], colors="yellow",
                       linewidths=0.8, linestyles="dashed")
        if ov.mask is not None and ov.mask.any():
            ax.contour(ov.mask.astype(float), levels=[0.5], colors="lime", linewidths=1.2)
        verdict = "" if ov.hit is None else (" hit" if ov.hit else " miss")
        ax.set_title(f"{ov.method}\nslice {ov.slice_index}{verdict}", fontsize=9)
        ax.set_axis_off()
    return _png(fig)
