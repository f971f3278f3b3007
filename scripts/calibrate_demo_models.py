"""Measure and store the calibrated CAM scales of the demo models (CPU, one core, minutes).

``python scripts/calibrate_demo_models.py [--cases 16] [--negatives 8] [--write]``
generates a calibration data set per demo model with :mod:`medcam.synthetic` (audit
layout: one folder per case, ``labels.json`` says which cases hold a nodule), runs
:func:`medcam.calibrate.calibrate` for every cheap CAM method and prints the records;
``--write`` stores them in ``medcam/model/specs/demo-*.json`` (``cam_scale`` and
``calibration``; the weights and their sha256 are not touched).

Cases (deterministic, seed :data:`SEED`): a random chest (``random_phantom``), for
``demo-ct3d`` acquired on a random CT geometry (axial, coronal, sagittal or oblique;
pixels 0.8-2.5 mm, slices 1-5 mm, at most 3 M voxels, as in training), for
``demo-dx2d`` as a PA radiograph (pixels 0.9-2 mm, 300-400 mm field). Positive cases
hold one solid nodule of 10-30 mm fully inside a lung; negative cases none. The
scale is the 99th percentile over positive cases of each case's map maximum on the
source grid (``statistic="peak"``), the value :attr:`medcam.Explanation.values`
divides by.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from medcam.calibrate import calibrate_methods, spec_path, write_cam_scale  # noqa: E402
from medcam.synthetic.acquisition import random_acquisition  # noqa: E402
from medcam.synthetic.dicom import write_series  # noqa: E402
from medcam.synthetic.phantom import (  # noqa: E402
    random_nodule,
    random_phantom,
    render_ct,
    render_radiograph,
)
from medcam.synthetic.projection import write_projection  # noqa: E402

SEED = 20261202
METHODS = ("gradcam", "layercam", "hirescam", "gradcam++", "xgradcam", "recipro", "cam")
PERCENTILE = 99.0


def _ct_case(folder: Path, rng: np.random.Generator, positive: bool, seed: str) -> None:
    phantom = random_phantom(rng)
    if positive:
        phantom = replace(phantom, nodule=random_nodule(phantom, rng, diameter_mm=(10.0, 30.0),
                                                        p_lung=1.0))
    center = np.asarray(phantom.center) + rng.uniform(-20.0, 20.0, 3)
    geometry = random_acquisition(rng, center, pixel_mm=(0.8, 2.5), slice_mm=(1.0, 5.0),
                                  max_voxels=3_000_000)
    volume = render_ct(phantom, geometry, rng, noise_hu=float(rng.uniform(5.0, 20.0)))
    write_series(volume, geometry, folder, modality="CT", uid_seed=seed,
                 series_description="Synthetic chest CT (calibration)")


def _dx_case(folder: Path, rng: np.random.Generator, positive: bool, seed: str) -> None:
    phantom = random_phantom(rng)
    if positive:
        phantom = replace(phantom, nodule=random_nodule(phantom, rng, diameter_mm=(10.0, 30.0),
                                                        p_lung=1.0))
    pixel = float(rng.uniform(0.9, 2.0))
    size = int(rng.uniform(300.0, 400.0) / pixel)
    image = render_radiograph(phantom, (size, size), pixel, rng, depth_step_mm=2.0,
                              noise=float(rng.uniform(0.003, 0.015)))
    write_projection(image, (pixel, pixel), folder / "DX000001.dcm", uid_seed=seed,
                     series_description="Synthetic chest radiograph (calibration)")


CASES = {"demo-ct3d": _ct_case, "demo-dx2d": _dx_case}


def make_dataset(model: str, root: Path, n_positive: int, n_negative: int) -> Path:
    """Write the calibration cases of ``model`` under ``root`` with their ``labels.json``."""
    rng = np.random.default_rng([SEED, sorted(CASES).index(model)])
    labels = {}
    for i in range(n_positive + n_negative):
        positive = i < n_positive
        name = f"case{i + 1:03d}"
        CASES[model](root / name, rng, positive, f"medcam-calibration-{model}-{name}")
        labels[name] = "lesion" if positive else "no_lesion"
    (root / "labels.json").write_text(json.dumps(labels, indent=2) + "\n")
    return root


def main() -> None:
    """Calibrate both demo models for every cheap method; print (and store) the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=16, help="positive cases per model")
    p.add_argument("--negatives", type=int, default=8, help="negative cases per model")
    p.add_argument("--models", default=",".join(CASES), help="comma-separated demo models")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    p.add_argument("--write", action="store_true", help="store the scales in the spec files")
    args = p.parse_args()
    torch.set_num_threads(1)
    for model in args.models.split(","):
        with tempfile.TemporaryDirectory(prefix="medcam-calibration-") as tmp:
            t0 = time.perf_counter()
            dataset = make_dataset(model, Path(tmp), args.cases, args.negatives)
            made = time.perf_counter() - t0
            t1 = time.perf_counter()
            methods = args.methods.split(",")
            results = calibrate_methods(dataset, model, methods, percentile=PERCENTILE)
            seconds = round((time.perf_counter() - t1) / len(methods), 1)
            for result in results.values():
                note = {"dataset": f"scripts/calibrate_demo_models.py, seed {SEED}: "
                                   f"{args.cases} synthetic chests with a 10-30 mm lung nodule, "
                                   f"{args.negatives} without",
                        "seconds_per_method": seconds}
                print(json.dumps({"model": model, **result.record(), **note}), flush=True)
                if args.write:
                    write_cam_scale(spec_path(model), result, note)
            print(json.dumps({"model": model, "dataset_seconds": round(made, 1)}), flush=True)


if __name__ == "__main__":
    main()
