"""``medcam calibrate``: its arguments and command, and the CLI's bounded-float type."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["add_calibrate_parser", "run_calibrate_command", "unit_interval"]

_P = TypeVar("_P", bound=argparse.ArgumentParser)


def add_calibrate_parser(sub: argparse._SubParsersAction[_P]) -> None:
    """Register ``medcam calibrate`` on the top-level subparsers."""
    ca = sub.add_parser("calibrate", help="measure a model's calibrated CAM scale on a dataset",
                        description="Explain the positive class on every case of DATASET "
                                    "(one subfolder per case, a SEG marks a positive case) "
                                    "and print the raw map value to show as 1.0, as JSON.")
    ca.add_argument("dataset", type=Path, help="folder with one subfolder per case")
    ca.add_argument("--model", default="demo-ct3d", help="built-in name or spec file")
    ca.add_argument("--method", default="gradcam", help="CAM method (see `medcam methods`)")
    ca.add_argument("--percentile", type=unit_interval("percentile", 0.0, 100.0, low_open=True),
                    default=99.0, help="percentile of the statistic shown as 1.0 (default 99)")
    ca.add_argument("--statistic", choices=("peak", "voxels"), default="peak",
                    help="per-case map maxima (default) or all map values pooled")
    ca.add_argument("--device", default="cpu", help="torch device")
    ca.add_argument("--write", action="store_true",
                    help="store the value as the spec file's cam_scale for the method")


def unit_interval(name: str, low: float, high: float, *, low_open: bool = False,
                  high_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a float in [low, high] (open where asked)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value) and (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high)
        if not ok:
            lo, hi = "(" if low_open else "[", ")" if high_open else "]"
            raise argparse.ArgumentTypeError(f"{name} must lie in {lo}{low:g}, {high:g}{hi}")
        return value
    return parse


def run_calibrate_command(args: argparse.Namespace) -> int:
    """Run ``medcam calibrate``; returns the exit code (errors raise MedcamError)."""
    from medcam.calibrate import calibrate, spec_path, write_cam_scale

    path = spec_path(args.model) if args.write else None  # fail before the work
    result = calibrate(args.dataset, args.model, args.method, percentile=args.percentile,
                       statistic=args.statistic, device=args.device)
    record = {"model": result.model, **result.record()}
    if path is not None:
        write_cam_scale(path, result)
        record["written"] = path.name
    sys.stdout.write(json.dumps(record, indent=2, allow_nan=False) + "\n")
    return 0


