"""The shipped calibrated scale separates nodule chests from normal ones.

Generated series (fixed seeds, so a failure reproduces): :func:`random_ct_case` chests
with and without a 12-24 mm lung nodule, one per orientation (axial, coronal,
sagittal, oblique; random pixel and slice spacing), written as DICOM and read back,
explained for the positive class ``lesion`` with Grad-CAM at demo-ct3d's calibrated
scale. Measured (seeds 400-403): nodule maxima 1.025, 0.944, 0.824, 0.588; normal
0.138, 0.138, 0.165, 0.143 (seeds 404-405 add 1.097, 0.989 and 0.142, 0.126). The
claims keep a margin: every normal below 0.25, every nodule above 0.5 (so above
every normal), and the shipped samples at their documented values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import medcam
from medcam.synthetic.cases import random_ct_case
from medcam.synthetic.dicom import write_series
from medcam.synthetic.phantom import render_ct

ROOT = Path(__file__).resolve().parents[2]
CASES = {400: "axial", 401: "coronal", 402: "sagittal", 403: "oblique"}


def _values_max(folder: Path, seed: int, lesion: bool) -> float:
    rng = np.random.default_rng(seed)
    case = random_ct_case(rng, CASES[seed], lesion=lesion)
    write_series(render_ct(case.phantom, case.geometry, rng), case.geometry, folder,
                 uid_seed=f"separation-{seed}-{lesion}")
    exp = medcam.explain(medcam.read_series(folder), model="demo-ct3d", method="gradcam")
    assert exp.scale.mode == "calibrated" and exp.target == "lesion"
    return exp.values_max


@pytest.fixture(scope="module")
def maxima(tmp_path_factory) -> dict[bool, list[float]]:
    root = tmp_path_factory.mktemp("separation")
    return {lesion: [_values_max(root / f"{seed}-{lesion}", seed, lesion) for seed in CASES]
            for lesion in (True, False)}


def test_every_normal_chest_is_cool(maxima):
    assert max(maxima[False]) < 0.25, maxima


def test_every_nodule_is_hot_and_above_every_normal(maxima):
    assert min(maxima[True]) > 0.5, maxima
    assert min(maxima[True]) > 2 * max(maxima[False]), maxima


@pytest.mark.parametrize(("folder", "model", "low", "high"), [
    ("ct/nodule", "demo-ct3d", 0.9, 1.05),
    ("ct/no_nodule", "demo-ct3d", 0.0, 0.2),
    ("dx/nodule", "demo-dx2d", 0.75, 0.9),
])
def test_sample_maxima_match_the_readme(folder, model, low, high):
    """README "Result set": nodule CT 0.977, normal CT 0.132, radiograph 0.819."""
    series = medcam.read_series(ROOT / "sample_dicoms" / folder)
    exp = medcam.explain(series, model=model, method="gradcam")
    assert exp.scale.mode == "calibrated"
    assert low < exp.values_max < high, exp.values_max


def test_volume_scale_shows_every_study_at_one():
    """``--scale volume``: the normal CT's hottest voxel is 1 again, as before calibration."""
    series = medcam.read_series(ROOT / "sample_dicoms" / "ct" / "no_nodule")
    exp = medcam.explain(series, model="demo-ct3d", method="gradcam", scale="volume")
    assert exp.scale.mode == "volume"
    assert exp.values_max == pytest.approx(1.0, abs=1e-6)
