"""Size and export time of every result-set object, against the source series.

Two sources: the 64-slice sample CT (``sample_dicoms/ct/nodule``, 64 x 128 x 128) and
a generated 300-slice 512 x 512 chest CT (:mod:`medcam.synthetic`: a random phantom
with a lung nodule, axial, 0.7 mm pixels, 1 mm slices, 16-bit uncompressed). Each
source is explained **once** with ``demo-ct3d`` and Grad-CAM (calibrated scale); the
one explanation is then exported several times, so the model never runs per option:

1. the default set (:class:`~medcam.export.result_set.ExportOptions`: SC JPEG-LS,
   PM 16-bit JPEG-LS, SEG, SR, KOS), timed per kind by
   :attr:`~medcam.export.result_set.ExportedSeries.timings`;
2. the Parametric Map as float32 (``--pm-float``);
3. the Secondary Capture with RLE Lossless and uncompressed (``--sc-compression``).

Columns: ``MB`` = bytes written for the kind (all instances) / 1e6, ``source MB`` =
the source series' files, ``ratio`` = MB / source MB, ``export s`` = seconds for the
kind (build + write of all its instances), ``s/object`` = that over the instances.
``--synthetic-map`` uses a Gaussian blob for the 300-slice CT instead of the model
(only the export is measured either way). One run, about 3-5 minutes on a busy
2-core machine.

Usage::

    python bench/result_set.py [--slices 300] [--size 512] [--synthetic-map]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import medcam  # noqa: E402
from medcam.explanation import Explanation  # noqa: E402
from medcam.export.result_set import ExportedSeries, ExportOptions, export_series  # noqa: E402
from medcam.geometry import Geometry, float3  # noqa: E402
from medcam.synthetic.acquisition import make_geometry  # noqa: E402
from medcam.synthetic.dicom import write_series  # noqa: E402
from medcam.synthetic.phantom import random_nodule, random_phantom, render_ct  # noqa: E402

AXIAL = (0, 0, 1, 0, 1, 0, 1, 0, 0)  # slices to the head, rows posterior, columns left
SAMPLE = ROOT / "sample_dicoms" / "ct" / "nodule"
#: (label, options, kinds reported from that export, row name per kind)
RUNS: tuple[tuple[str, ExportOptions, dict[str, str]], ...] = (
    ("default", ExportOptions(preview=False),
     {"sc": "SC (JPEG-LS)", "pm": "PM 16-bit JPEG-LS", "seg": "SEG", "sr": "SR", "ko": "KO"}),
    ("pm-float", ExportOptions(outputs=("pm",), preview=False, pm_float=True),
     {"pm": "PM float32"}),
    ("sc-rle", ExportOptions(outputs=("sc",), preview=False, sc_compression="rle"),
     {"sc": "SC (RLE)"}),
    ("sc-none", ExportOptions(outputs=("sc",), preview=False, sc_compression=None),
     {"sc": "SC (uncompressed)"}),
)


def large_ct(folder: Path, slices: int, size: int, seed: int = 7) -> Path:
    """Write a ``slices`` x ``size`` x ``size`` axial chest CT with a lung nodule."""
    rng = np.random.default_rng(seed)
    phantom = random_phantom(rng)
    phantom = dataclasses.replace(phantom, nodule=random_nodule(phantom, rng,
                                                                diameter_mm=(15.0, 20.0),
                                                                p_lung=1.0))
    spacing = (1.0, 0.7, 0.7)
    shape = (slices, size, size)
    fov = tuple(n * d for n, d in zip(shape, spacing, strict=True))
    geometry = make_geometry(np.asarray(AXIAL, float).reshape(3, 3),
                             np.asarray(phantom.center), fov, spacing)  # type: ignore[arg-type]
    assert geometry.shape == shape
    volume = np.empty(shape, np.float32)
    step = 20  # slabs: voxel centres of the whole grid would need gigabytes
    for k in range(0, slices, step):
        n = min(step, slices - k)
        slab = Geometry((n, size, size), spacing,
                        float3(geometry.index_to_lps((k, 0, 0))),
                        geometry.direction)
        volume[k:k + n] = render_ct(phantom, slab, rng)
    write_series(volume, geometry, folder, uid_seed="bench-result-set",
                                        series_description="Synthetic chest CT (bench)")
    return folder


def synthetic_explanation(exp: Explanation, series: medcam.Series) -> Explanation:
    """``exp`` moved onto ``series`` with a Gaussian blob as its map (no model run)."""
    n, rows, cols = series.array.shape
    k, i, j = np.ogrid[:n, :rows, :cols]
    blob = np.exp(-(((k - n * 0.55) / (n / 8)) ** 2 + ((i - rows * 0.4) / (rows / 10)) ** 2
                    + ((j - cols * 0.6) / (cols / 10)) ** 2)).astype(np.float32)
    return dataclasses.replace(exp, series=series, cam=blob)


def _mb(n: float) -> float:
    return n / 1e6


def measure(name: str, series: medcam.Series, exp: Explanation, work: Path
            ) -> list[tuple[str, str, int, float, float]]:
    """Export ``exp`` once per run of :data:`RUNS`; rows (case, kind, n, MB, seconds)."""
    rows = []
    for label, options, kinds in RUNS:
        folder = work / f"{name}-{label}"
        done: ExportedSeries = export_series(series, exp, folder, options)
        for kind, row in kinds.items():
            objs = done.of_kind(kind)  # type: ignore[arg-type]
            if not objs:
                rows.append((name, f"{row} (not written: empty region)", 0, 0.0, 0.0))
                continue
            rows.append((name, row, len(objs), _mb(sum(o.size for o in objs)),
                         done.timings[f"export.{kind}"]))
        shutil.rmtree(folder)
    return rows


def main() -> None:
    """Explain each source once, export every variant, print one table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slices", type=int, default=300)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--synthetic-map", action="store_true",
                   help="300-slice CT: a Gaussian blob instead of the model's map")
    p.add_argument("--workdir", type=Path, default=None)
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="medcam-bench-rs-", dir=args.workdir))
    table: list[tuple[str, str, int, float, float]] = []
    sources: dict[str, tuple[int, int]] = {}
    try:
        cases = []
        t0 = time.perf_counter()
        sample = medcam.read_series(SAMPLE)
        exp = medcam.explain(sample, model="demo-ct3d", method="gradcam")
        print(f"sample {sample.array.shape}: explained in {time.perf_counter() - t0:.1f} s, "
              f"map max {exp.values_max:.3f} ({exp.scale.mode})", flush=True)
        cases.append(("sample-64", sample, exp, SAMPLE))
        t0 = time.perf_counter()
        folder = large_ct(work / "large-src", args.slices, args.size)
        print(f"large CT written in {time.perf_counter() - t0:.1f} s", flush=True)
        t0 = time.perf_counter()
        large = medcam.read_series(folder)
        big = synthetic_explanation(exp, large) if args.synthetic_map else \
            medcam.explain(large, model="demo-ct3d", method="gradcam")
        how = "synthetic map" if args.synthetic_map else "explained"
        print(f"large {large.array.shape}: read and {how} in {time.perf_counter() - t0:.1f} s,"
              f" map max {big.values_max:.3f}", flush=True)
        cases.append((f"ct-{args.slices}", large, big, folder))
        for name, series, e, src in cases:
            files = [f for f in Path(src).rglob("*") if f.is_file() and f.suffix == ".dcm"]
            sources[name] = (len(files), sum(f.stat().st_size for f in files))
            table += measure(name, series, e, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("| source | object | instances | MB | source MB | ratio | export s | s/object |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, row, n, mb, sec in table:
        src_mb = _mb(sources[name][1])
        per = sec / n if n else 0.0
        print(f"| {name} | {row} | {n} | {mb:.3f} | {src_mb:.1f} | {mb / src_mb:.4f} | {sec:.2f} "
              f"| {per:.3f} |")
    for name, (n, size) in sources.items():
        print(f"source {name}: {n} files, {_mb(size):.1f} MB")


if __name__ == "__main__":
    main()
