"""Speed and memory of medcam's Grad-CAM against a no-grad forward pass and MONAI's GradCAM.

Cases: MONAI DenseNet121 3D at 96^3 (batch 1) and 2D at 512^2 (batch 8). Times: one
subprocess per case builds a model copy per method, warms each up once, then times the
methods round-robin for ``--repeats`` rounds (medians; each timed call follows an untimed
one of the same method), so every method sees the same machine load. Memory on the CPU:
one fresh subprocess per method makes one call (peak RSS during the call minus RSS
before it: the kernel's peak mark ``VmHWM``, reset just before the call, else
``resource.getrusage``). On CUDA one process per case does both: the
``torch.cuda.max_memory_allocated`` delta of each method's first call, statistics reset
between methods.
pytorch-grad-cam is measured only if it is importable.

Targets: medcam Grad-CAM <= 1.3x the forward pass, >= 2.5x faster than MONAI's GradCAM.

Usage::

    python bench/cam_speed.py [--device cuda] [--repeats 3] [--threads N] [--quick]

On a shared CPU machine pass ``--threads 1``: a spin-waiting second OpenMP thread can make
3D passes many times slower when other processes compete for the cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn

#: (architecture, spatial dims) -> the default CAM layer (MONAI's documented choice).
LAYERS = {"densenet": "class_layers.relu", "resnet": "layer4"}


def build(arch: str, dims: int, classes: int = 2) -> nn.Module:
    import torch
    from monai.networks.nets import DenseNet121, resnet18

    torch.manual_seed(0)
    if arch == "densenet":
        model = DenseNet121(spatial_dims=dims, in_channels=1, out_channels=classes)
    else:
        model = resnet18(spatial_dims=dims, n_input_channels=1, num_classes=classes)
    return model.eval()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs`` 5); False where unsupported.

    Without it ``ru_maxrss`` is the peak since the process started, so a peak during
    model construction can hide the call's own.
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _peak_rss_bytes(reset: bool) -> int:
    """Peak RSS since :func:`_reset_peak_rss` (``VmHWM``), else since the process started."""
    if reset:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _runner(spec: dict[str, Any], model: nn.Module, x: Tensor) -> Callable[[], object]:
    import torch

    method = spec["method"]
    if method == "forward":
        def forward() -> object:
            with torch.no_grad():
                return model(x)
        return forward
    family, name = method.split(":", 1)
    layer = LAYERS[spec["arch"]]
    if family == "medcam":
        from medcam import cam

        engine = cam.create(name, model, **spec.get("options", {}))
        return lambda: engine(x)
    if family == "monai":
        from monai.visualize import GradCAM

        monai_cam = GradCAM(nn_module=model, target_layers=layer, postprocessing=lambda t: t)
        return lambda: monai_cam(x)
    if family == "pgc":
        from pytorch_grad_cam import GradCAM as PgcGradCAM

        pgc = PgcGradCAM(model=model, target_layers=[model.get_submodule(layer)])
        return lambda: pgc(input_tensor=x, targets=None)
    raise ValueError(f"unknown method {method}")


def _setup(spec: dict[str, Any]) -> tuple[torch.device, nn.Module, Tensor]:
    import torch

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    device = torch.device(spec["device"])
    model = build(spec["arch"], spec["dims"]).to(device)
    gen = torch.Generator().manual_seed(1)
    return device, model, torch.randn(*spec["shape"], generator=gen).to(device)


def _timed(run: Callable[[], object], device: torch.device) -> float:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def memory_worker(spec: dict[str, Any]) -> dict[str, float]:
    """One call of ``spec["method"]`` in this fresh process: its time and peak memory."""
    import torch

    device, model, x = _setup(spec)
    run = _runner(spec, model, x)
    reset = False
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = _rss_bytes()
        reset = _reset_peak_rss()
    first = _timed(run, device)
    if device.type == "cuda":
        top = torch.cuda.max_memory_allocated()
    else:
        top = _peak_rss_bytes(reset)
    return {"first_s": first, "peak_mb": max(top - before, 0) / 2**20,
            "before_mb": before / 2**20, "top_mb": top / 2**20}


def timing_worker(spec: dict[str, Any]) -> dict[str, float]:
    """Median times of ``spec["methods"]``, interleaved round by round in this process.

    Each method gets its own copy of the model (MONAI's GradCAM keeps its hooks) and one
    warm-up call; interleaving exposes all methods to the same machine load, and an
    untimed call before each timed one removes the allocator state left by the method
    before.
    """
    import copy

    device, model, x = _setup(spec)
    runs = {m: _runner({**spec, "method": m}, copy.deepcopy(model), x) for m in spec["methods"]}
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {m: [] for m in runs}
    for _ in range(int(spec["repeats"])):
        for method, run in runs.items():
            run()  # untimed: undo what the previous method left in the allocator
            times[method].append(_timed(run, device))
    return {m: statistics.median(t) for m, t in times.items()}


def cuda_worker(spec: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Every method in one process on a GPU: first call, peak memory and medians.

    CUDA's allocator statistics can be reset between calls, so one process serves all
    methods (a fresh interpreter per method costs seconds of CUDA start-up each): each
    method's first call gives its time and its ``max_memory_allocated`` delta; the
    methods of ``spec["methods"]`` are then timed round-robin as in
    :func:`timing_worker`, those of ``spec["slow"]`` keep their first call.
    """
    import copy

    import torch

    device, model, x = _setup(spec)
    names = list(spec["methods"]) + list(spec["slow"])
    runs = {m: _runner({**spec, "method": m}, copy.deepcopy(model), x) for m in names}
    rows: dict[str, dict[str, float]] = {}
    for method, run in runs.items():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        first = _timed(run, device)
        peak = torch.cuda.max_memory_allocated() - before
        rows[method] = {"first_s": first, "peak_mb": max(peak, 0) / 2**20, "median_s": first}
    times: dict[str, list[float]] = {m: [] for m in spec["methods"]}
    for _ in range(int(spec["repeats"])):
        for method in spec["methods"]:
            runs[method]()
            times[method].append(_timed(runs[method], device))
    for method, values in times.items():
        rows[method]["median_s"] = statistics.median(values)
    return rows


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run a worker (``spec["mode"]``: memory or timing) in a fresh interpreter."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker",
                           json.dumps(spec)],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def collect(base: dict[str, Any], fast: list[str], slow: list[str],
            repeats: int) -> list[tuple[str, dict[str, float]]]:
    """Times (interleaved medians for ``fast``, one call for ``slow``) and peak memory."""
    if str(base["device"]).startswith("cuda"):
        rows_by_name = measure({**base, "mode": "cuda", "methods": fast, "slow": slow,
                                "repeats": repeats})
        return [(m, rows_by_name.get(m, rows_by_name)) for m in fast + slow]
    medians = measure({**base, "mode": "timing", "methods": fast, "repeats": repeats})
    rows = []
    for method in fast + slow:
        row = measure({**base, "mode": "memory", "method": method})
        if "error" not in row:
            row["median_s"] = row["first_s"] if method in slow else medians.get(method, 0.0)
        rows.append((method, row))
    return rows


def table(rows: list[tuple[str, dict[str, float]]], forward: float) -> str:
    """Markdown table of times, ratios to the forward pass and peak memory."""
    lines = ["| method | time s | x forward | first call s | peak mem MB |",
             "|---|---:|---:|---:|---:|"]
    for name, r in rows:
        if "error" in r:
            lines.append(f"| {name} | error: {r['error']} | | | |")
            continue
        lines.append(f"| {name} | {r['median_s']:.3f} | {r['median_s'] / forward:.2f} | "
                     f"{r['first_s']:.3f} | {r['peak_mb']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        work = {"timing": timing_worker, "memory": memory_worker,
                "cuda": cuda_worker}[spec["mode"]]
        print(json.dumps(work(spec)))
        return
    cases = [("DenseNet121 3D 96^3, batch 1", 3, (1, 1, 96, 96, 96)),
             ("DenseNet121 2D 512^2, batch 8", 2, (8, 1, 512, 512))]
    if args.quick:
        cases = [("DenseNet121 3D 64^3, batch 1", 3, (1, 1, 64, 64, 64)),
                 ("DenseNet121 2D 128^2, batch 2", 2, (2, 1, 128, 128))]
    methods = ["forward", "medcam:gradcam", "monai:gradcam"]
    if importlib.util.find_spec("pytorch_grad_cam") is not None:
        methods.append("pgc:gradcam")
    import torch

    print(f"torch {torch.__version__}, device {args.device}, threads "
          f"{args.threads or torch.get_num_threads()}, repeats {args.repeats}\n")
    for title, dims, shape in cases:
        base = {"arch": "densenet", "dims": dims, "shape": shape, "device": args.device,
                "threads": args.threads}
        rows = collect(base, methods, [], args.repeats)
        forward = rows[0][1]["median_s"]
        print(f"### {title}\n\n{table(rows, forward)}\n")
        ours, theirs = rows[1][1], rows[2][1]
        if "error" not in ours and "error" not in theirs:
            print(f"medcam Grad-CAM: {ours['median_s'] / forward:.2f}x forward (target <= 1.3), "
                  f"{theirs['median_s'] / ours['median_s']:.1f}x faster than MONAI GradCAM "
                  "(target >= 2.5)\n", flush=True)


if __name__ == "__main__":
    main()
