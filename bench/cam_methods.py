"""Every medcam CAM method on MONAI DenseNet121 and ResNet18, 2D and 3D.

For each case the table gives the median time per call in units of one no-grad forward
pass of the same model and input, and the peak memory of the call (CPU: peak RSS during
the call minus RSS before it; CUDA: ``max_memory_allocated`` delta), each measured in a
fresh subprocess (see ``bench/cam_speed.py``). Times of the fast methods are
medians of round-robin repeats in one process (same machine load for all); Score-CAM and
Cluster-CAM (many forward passes each) are timed on their single, first call.

Targets: gradient methods <= 1.3x forward; Recipro-CAM <= 1.5x forward and >= 50x faster
than Score-CAM on the same 3D model.

Usage::

    python bench/cam_methods.py [--quick] [--device cuda] [--repeats 3] [--threads N]
                                [--dims 3] [--size 160] [--methods gradcam,recipro]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cam_speed import collect, table

from medcam import cam

#: Methods timed once (first call): each costs many forward passes.
SLOW = {"scorecam", "clustercam"}
#: Input edge length per (architecture, spatial dims); Score-CAM's full K forward passes
#: (1024 for DenseNet121, 512 for ResNet18) bound what finishes in minutes on 2 CPU cores.
SIZES = {("densenet", 2): 128, ("densenet", 3): 64, ("resnet", 2): 128, ("resnet", 3): 48}
QUICK = {("densenet", 2): 64, ("densenet", 3): 32, ("resnet", 2): 64, ("resnet", 3): 32}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--methods", default=",".join(cam.available()),
                        help="comma-separated subset of the methods")
    parser.add_argument("--arch", default="densenet,resnet")
    parser.add_argument("--dims", default="2,3", help="spatial dimensions to run")
    parser.add_argument("--size", type=int, default=0,
                        help="input edge length for every case (0: the defaults above)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else SIZES
    if args.size:
        sizes = dict.fromkeys(SIZES, args.size)
    cases = [(arch, dims, (1, 1, *(sizes[arch, dims],) * dims))
             for arch in args.arch.split(",") for dims in map(int, args.dims.split(","))]
    methods = args.methods.split(",")
    summary = []
    print(f"device {args.device}, threads {args.threads or 'default'}, repeats {args.repeats}"
          f"{' (quick sizes)' if args.quick else ''}\n")
    for arch, dims, shape in cases:
        base = {"arch": arch, "dims": dims, "shape": shape, "device": args.device,
                "threads": args.threads}
        fast = ["forward"] + [f"medcam:{m}" for m in methods if m not in SLOW]
        slow = [f"medcam:{m}" for m in methods if m in SLOW]
        rows = [(n.split(":")[-1], r) for n, r in collect(base, fast, slow, args.repeats)]
        forward = rows[0][1]
        title = f"{'DenseNet121' if arch == 'densenet' else 'ResNet18'} {dims}D " \
                f"{'x'.join(map(str, shape[2:]))}, batch {shape[0]}"
        print(f"### {title}\n\n{table(rows, forward['median_s'])}\n", flush=True)
        times = {n: r["median_s"] for n, r in rows if "median_s" in r}
        if dims == 3 and "recipro" in times and "scorecam" in times:
            summary.append(f"{title}: Recipro-CAM {times['recipro'] / forward['median_s']:.2f}x "
                           f"forward, {times['scorecam'] / times['recipro']:.0f}x faster than "
                           "Score-CAM")
    if summary:
        print("\n".join(summary))


if __name__ == "__main__":
    main()
