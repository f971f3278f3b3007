"""The ``medcam audit`` subcommand.

Wire it into :mod:`medcam.cli` with ``add_audit_parser(sub)`` after the other
sub-parsers and ``if args.command == "audit": return run_audit_command(args)`` in
``main``. Exit codes follow ``medcam explain``: 0 success, 2 bad input (one ``error:``
line), 3 some cases or methods failed (listed in metrics.json and the report).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TypeVar

from medcam.audit.config import AuditConfig

__all__ = ["add_audit_parser", "run_audit_command"]

EXIT_OK, EXIT_PARTIAL = 0, 3


def _methods(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one method, e.g. gradcam,layercam")
    return names


def _fractions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(q) for q in text.split(",") if q.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError("fractions are comma-separated numbers") from exc


_P = TypeVar("_P", bound=argparse.ArgumentParser)


def add_audit_parser(subparsers: argparse._SubParsersAction[_P]) -> _P:
    """Add ``audit`` to the ``medcam`` sub-parsers and return its parser."""
    p = subparsers.add_parser(
        "audit", help="score CAM methods on a dataset (localisation, faithfulness, sanity)",
        description="Audit CAM methods on DATASET (one subfolder per case: an image series "
                    "and optionally a DICOM SEG ground truth). Writes OUT/metrics.json and "
                    "OUT/report.html.")
    p.add_argument("dataset", type=Path, help="folder with one subfolder per case")
    p.add_argument("--model", default="demo-ct3d", help="built-in model name or spec file")
    p.add_argument("--methods", type=_methods, default=["gradcam"],
                   help="comma-separated CAM methods, each optionally name@layer "
                        "(default: gradcam)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--target", default=None, help="class to explain (default: predicted)")
    p.add_argument("--target-layer", default=None,
                   help="CAM target layer for every method (default: the model's)")
    p.add_argument("--device", default="cpu", help="torch device")
    d = AuditConfig()
    p.add_argument("--tolerance-mm", type=float, default=d.tolerance_mm,
                   help=f"pointing-game tolerance in mm (default {d.tolerance_mm})")
    p.add_argument("--threshold", type=float, default=d.threshold,
                   help=f"map threshold of IoU/Dice (default {d.threshold})")
    p.add_argument("--steps", type=int, default=d.n_steps,
                   help=f"deletion/insertion steps (default {d.n_steps})")
    p.add_argument("--deletion-baseline", default=d.deletion_baseline,
                   choices=["auto", "air", "blur", "mean", "zero"])
    p.add_argument("--insertion-baseline", default=d.insertion_baseline,
                   choices=["auto", "air", "blur", "mean", "zero"])
    p.add_argument("--road-fractions", type=_fractions, default=d.road_fractions,
                   help="comma-separated ROAD removal fractions")
    p.add_argument("--road-neighbourhood", type=int, default=None,
                   help="ROAD stencil: 6 or 26 in 3D, 4 or 8 in 2D")
    p.add_argument("--no-sanity", action="store_true", help="skip the randomisation check")
    p.add_argument("--sanity-cases", type=int, default=None,
                   help="run the randomisation check on the first N cases only")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    return p


def _config(args: argparse.Namespace) -> AuditConfig:
    return AuditConfig(tolerance_mm=args.tolerance_mm, threshold=args.threshold,
                       n_steps=args.steps, deletion_baseline=args.deletion_baseline,
                       insertion_baseline=args.insertion_baseline,
                       road_fractions=args.road_fractions,
                       road_neighbourhood=args.road_neighbourhood, sanity=not args.no_sanity,
                       sanity_cases=args.sanity_cases, seed=args.seed)


def _line(method: str, agg: dict[str, Any]) -> str:
    def mean(key: str) -> str:
        value = agg[key]["mean"]
        return "-" if value is None else f"{value:.3f}"

    return (f"{method:<12} PG {mean('pointing_game')}  EPG {mean('energy_pointing_game')}  "
            f"del {mean('deletion_auc')}  ins {mean('insertion_auc')}  ADCC {mean('adcc')}  "
            f"cam {agg['time_s']['cam']['mean'] or 0:.2f}s/case")


def run_audit_command(args: argparse.Namespace) -> int:
    """Run ``medcam audit`` from parsed arguments; returns the exit code.

    Raises:
        MedcamError: bad dataset, model, methods or options (``medcam.cli.main`` prints
            it as one ``error:`` line and exits 2).

    """
    from medcam.audit.runner import run

    config = _config(args)
    result = run(args.dataset, args.model, args.methods, out=args.out, target=args.target,
                 target_layer=args.target_layer, config=config, device=args.device,
                 progress=not args.no_progress)
    failed = result["dataset"]["n_failed"] + sum(
        result["aggregate"][m]["n_failed"] for m in result["methods"])
    if not args.quiet:
        for method in result["methods"]:
            sys.stdout.write(_line(method, result["aggregate"][method]) + "\n")
        sys.stdout.write(f"wrote {args.out / 'metrics.json'} and {args.out / 'report.html'}\n")
    return EXIT_PARTIAL if failed else EXIT_OK
