"""Peak memory of every CAM method on a 160^3 volume against a no-grad forward pass.

MONAI DenseNet121 and ResNet18 (3D, 1 input channel, 2 classes, seeded random weights),
batch 1, default target layer and options unless the table says otherwise. Each row is
one call in a fresh interpreter (``bench/cam_speed.py``'s memory worker): the model and
input are built, the kernel's peak-RSS mark is reset, the call runs, and the row gives
the peak RSS during the call minus the RSS before it (the call's working memory; model
weights, input and libraries excluded), its ratio to the no-grad forward pass's, and the
process's absolute peak. CUDA (``--device cuda``): ``max_memory_allocated`` deltas.

The workers run with glibc's mmap threshold fixed at 64 KiB (``MALLOC_MMAP_THRESHOLD_``),
so every large tensor is mapped and unmapped on its own and RSS follows the memory the
call actually holds. With glibc's default (dynamic) threshold, freed blocks stay in the
heap depending on the allocation history, and repeated runs of the same DenseNet121 row
were seen to differ by up to ~60 MB (about 0.2x of its forward pass); ``--default-malloc``
measures that way.

Target (issue 3): every gradient method <= 1.5x the forward pass's memory.

Score-CAM and Cluster-CAM run full forward passes ``batch_size`` at a time, so their
peak is about ``batch_size`` forward passes; a full Score-CAM run (K = 1024 / 512 passes
at 160^3) does not fit the time budget, so it is measured with ``channels`` = one batch
(the same peak, not the same time). On ResNet18, whose forward pass alone takes ~2 GB at
160^3 (its first conv runs at full resolution), they run with ``batch_size=2``.

Usage::

    python bench/cam_memory.py [--size 160] [--arch densenet,resnet] [--threads 1]
                               [--default-malloc]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cam_speed import measure

from medcam import cam

#: Extra rows: options per (architecture, method label).
OPTIONS: dict[str, dict[str, dict[str, Any]]] = {
    "densenet": {"scorecam": {"channels": 16},
                 "gradcam @ features.transition2": {"target_layer": "features.transition2"}},
    "resnet": {"scorecam": {"channels": 2, "batch_size": 2},
               "clustercam": {"batch_size": 2},
               "gradcam @ layer3": {"target_layer": "layer3"}},
}
NAMES = {"densenet": "DenseNet121", "resnet": "ResNet18"}


def rows_for(arch: str) -> list[tuple[str, dict[str, Any]]]:
    """(label, options) for the forward pass, every method and the extra rows."""
    extra = OPTIONS[arch]
    rows = [("forward", {})] + [(m, extra.get(m, {})) for m in cam.available()]
    return rows + [(label, opts) for label, opts in extra.items() if label not in dict(rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--arch", default="densenet,resnet")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--default-malloc", action="store_true",
                        help="keep glibc's dynamic mmap threshold in the workers")
    args = parser.parse_args()
    if not args.default_malloc:
        os.environ["MALLOC_MMAP_THRESHOLD_"] = str(64 * 1024)  # inherited by the workers
    t0 = time.perf_counter()
    print(f"device {args.device}, torch threads {args.threads}, one fresh process per row, "
          f"MALLOC_MMAP_THRESHOLD_={os.environ.get('MALLOC_MMAP_THRESHOLD_', 'default')}\n")
    verdicts = []
    for arch in args.arch.split(","):
        shape = (1, 1, *(args.size,) * 3)
        base = {"arch": arch, "dims": 3, "shape": shape, "device": args.device,
                "threads": args.threads, "mode": "memory"}
        print(f"### {NAMES[arch]} 3D {args.size}^3, batch 1\n")
        print("| method | options | call s | peak MB (call) | x forward | process peak MB |")
        print("|---|---|---:|---:|---:|---:|")
        forward = None
        worst = ("", 0.0)
        for label, opts in rows_for(arch):
            method = "forward" if label == "forward" else f"medcam:{label.split(' @ ')[0]}"
            r = measure({**base, "method": method, "options": opts})
            shown = ", ".join(f"{k}={v}" for k, v in opts.items()) or "default"
            if "error" in r:
                print(f"| {label} | {shown} | error: {r['error']} | | | |", flush=True)
                continue
            forward = forward or r["peak_mb"]
            ratio = r["peak_mb"] / forward
            print(f"| {label} | {shown} | {r['first_s']:.1f} | {r['peak_mb']:.0f} | "
                  f"{ratio:.2f} | {r['top_mb']:.0f} |", flush=True)
            name = label.split(" @ ")[0]
            if name in cam.available() and cam.describe(name).cost_class == "gradient" \
                    and " @ " not in label and ratio > worst[1]:
                worst = (label, ratio)
        verdicts.append(f"{NAMES[arch]}: worst gradient method {worst[0]} {worst[1]:.2f}x "
                        f"forward ({'meets' if worst[1] <= 1.5 else 'misses'} <= 1.5x)")
        print()
    print("\n".join(verdicts))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
