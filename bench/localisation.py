"""How well the demo CT model finds and localises nodules, series of every orientation.

Series are generated on the fly (random orientation, pixel and slice spacing,
anisotropic pixels, ascending or descending slices, nodule position and size 12-24 mm),
written as DICOM, read back with ``medcam.read_series`` and explained. Prints, per
orientation and method, how many nodules were found (class ``lesion``) with the CAM
maximum (mapped through the source geometry) within 10 mm of the nodule centre, the
median and largest distance, and how many chests without a nodule were called normal.
``tests/pipeline/test_localisation.py`` asserts the same on fewer cases.

    python bench/localisation.py [--cases 5] [--methods gradcam,layercam,recipro]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import medcam
from medcam.synthetic.acquisition import ORIENTATIONS
from medcam.synthetic.cases import random_ct_case
from medcam.synthetic.dicom import write_series
from medcam.synthetic.phantom import render_ct


def series_for(orientation: str, seed: int, lesion: bool, folder: Path
               ) -> tuple[medcam.Series, np.ndarray | None]:
    """Write one generated case as DICOM, read it back; the nodule centre (LPS) or None."""
    rng = np.random.default_rng(seed)
    case = random_ct_case(rng, orientation, lesion=lesion)
    write_series(render_ct(case.phantom, case.geometry, rng), case.geometry, folder,
                 descending=bool(seed % 2), uid_seed=f"bench-{orientation}-{seed}-{lesion}")
    centre = None if case.nodule is None else np.asarray(case.nodule.center)
    return medcam.read_series(folder), centre


def main() -> None:
    """Print one row per orientation and method."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=5, help="cases per orientation")
    ap.add_argument("--methods", default="gradcam")
    ap.add_argument("--seed", type=int, default=1000)
    args = ap.parse_args()
    methods = args.methods.split(",")
    print("| orientation | method | found within 10 mm | median mm | max mm "
          "| normal called normal |")
    print("|---|---|---:|---:|---:|---:|")
    totals = dict.fromkeys(methods, 0)
    for orientation in ORIENTATIONS:
        dists: dict[str, list[float]] = {m: [] for m in methods}
        hits = dict.fromkeys(methods, 0)
        normal = 0
        for k in range(args.cases):
            seed = args.seed + k
            with tempfile.TemporaryDirectory() as tmp:
                series, centre = series_for(orientation, seed, True, Path(tmp))
                for method in methods:
                    exp = medcam.explain(series, model="demo-ct3d", method=method)
                    peak = np.unravel_index(int(np.argmax(exp.cam)), exp.cam.shape)
                    lps = series.geometry.index_to_lps(np.asarray(peak, dtype=float))
                    d = float(np.linalg.norm(lps - centre))
                    dists[method].append(d)
                    hits[method] += exp.target == "lesion" and d <= 10.0
            with tempfile.TemporaryDirectory() as tmp:
                series, _ = series_for(orientation, seed, False, Path(tmp))
                normal += medcam.explain(series, model="demo-ct3d").target == "no_lesion"
        for method in methods:
            totals[method] += hits[method]
            d = np.asarray(dists[method])
            print(f"| {orientation} | {method} | {hits[method]}/{args.cases} | "
                  f"{np.median(d):.1f} | {d.max():.1f} | {normal}/{args.cases} |", flush=True)
    n = len(ORIENTATIONS) * args.cases
    print("\n" + ", ".join(f"{m}: {t}/{n} found within 10 mm" for m, t in totals.items()))


if __name__ == "__main__":
    main()
