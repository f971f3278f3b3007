"""Throughput of ``medcam batch``: series per minute, local with 1 and 2 workers and Ray with 2.

One run generates an archive of ``--series`` small CT series (default 200 series of 16
slices of 64x64, in nested folders, two per study) and explains it three times into
fresh output folders with demo-ct3d and Grad-CAM: ``local`` with 1 worker, ``local``
with 2 and ``ray`` with 2 (a local Ray the engine starts and stops). The three
manifests must be equal once timings are dropped.

Columns: ``plan`` = archive scan, ``start`` = workers (and Ray) up with the model
loaded, ``process`` = first series sent to last manifest line; ``series/min`` =
series / process time (the steady rate the targets refer to), ``overall`` = series /
the whole run including plan and start.

Targets (2-core machine): local 2 workers >= 1.7x local 1 worker; Ray within 15% of
local at 2 workers. Since the machine may be shared, the run also measures how much
parallelism it offered: a busy loop in 2 processes against 1, before and after (2.0x
on two free cores, 1.0x when others keep one core busy).

Usage::

    python bench/batch_throughput.py [--series 200] [--slices 16] [--size 64] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from medcam.batch import BatchOptions, BatchReport, comparable, read_manifest, run_batch
from medcam.synthetic.archive import write_ct_archive

CONFIGS = (("local", 1), ("local", 2), ("ray", 2))


def _spin(n: int) -> float:
    t0, x = time.perf_counter(), 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t0


def machine_parallelism(n: int = 20_000_000) -> float:
    """Throughput of a busy loop in 2 processes relative to 1 (what the machine offers)."""
    import multiprocessing as mp

    one = _spin(n)
    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(_spin, [1, 1])  # both processes started and imported before timing
        t0 = time.perf_counter()
        pool.map(_spin, [n, n])
        two = time.perf_counter() - t0
    return 2 * one / two


def _row(name: str, report: BatchReport) -> str:
    p = report.phases
    n = report.stats["processed"]
    rate = report.series_per_min or 0.0
    overall = 60.0 * n / p["total_s"]
    return (f"| {name} | {n} | {p['plan_s']:.1f} | {p['start_s']:.1f} | "
            f"{p['process_s']:.1f} | {rate:.1f} | {overall:.1f} |")


def main() -> None:
    """Generate the archive, run the three configurations, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--slices", type=int, default=16)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="medcam-batch-bench-"))
    archive = work / "archive"
    if not archive.exists():
        t0 = time.monotonic()
        write_ct_archive(archive, args.series, slices=args.slices, size=args.size)
        print(f"generated {args.series} series of {args.slices}x{args.size}x{args.size} "
              f"in {time.monotonic() - t0:.1f} s")
    before = machine_parallelism()
    reports: dict[str, BatchReport] = {}
    for engine, workers in CONFIGS:
        name = f"{engine}, {workers} worker{'s' if workers > 1 else ''}"
        out = work / f"out-{engine}-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        reports[name] = run_batch(BatchOptions(archive, out, engine=engine, workers=workers))
        print(f"{name}: {reports[name].series_per_min:.1f} series/min", flush=True)
    after = machine_parallelism()
    manifests = [[comparable(e) for e in read_manifest(r.manifest)] for r in reports.values()]
    same = all(m == manifests[0] for m in manifests)
    rates = [r.series_per_min or 0.0 for r in reports.values()]
    cpu = os.cpu_count()
    print(f"\n{args.series} series of {args.slices}x{args.size}x{args.size}, demo-ct3d, "
          f"gradcam, {cpu} CPU cores; times in seconds\n")
    print("| engine | series | plan | start | process | series/min | overall/min |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, report in reports.items():
        print(_row(name, report))
    print(f"\nlocal 2 workers / 1 worker: {rates[1] / rates[0]:.2f}x (target >= 1.7x)")
    print(f"ray 2 / local 2: {rates[2] / rates[1]:.2f} (target >= 0.85)")
    print(f"manifests equal without timings: {same}")
    print(f"parallelism the machine offered (busy loop, 2 processes / 1): {before:.2f}x "
          f"before, {after:.2f}x after")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
