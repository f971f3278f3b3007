"""The ``medcam batch`` subcommand.

Exit codes follow ``medcam explain``: 0 every series done or skipped; 3 some series
failed or were not pushed (listed in ``manifest.jsonl``); 2 bad input, the output
folder in use or the engine unable to start (one ``error:`` line); 1 internal error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TypeVar

from medcam.batch.engines import ENGINES

__all__ = ["add_batch_parser", "run_batch_command"]

EXIT_OK, EXIT_PARTIAL = 0, 3


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("--workers takes a whole number") from exc
    if value < 1:
        raise argparse.ArgumentTypeError("--workers must be at least 1")
    return value


_P = TypeVar("_P", bound=argparse.ArgumentParser)


def add_batch_parser(subparsers: argparse._SubParsersAction[_P]) -> _P:
    """Add ``batch`` to the ``medcam`` sub-parsers and return its parser."""
    p = subparsers.add_parser(
        "batch", help="explain every image series of an archive, resumably",
        description="Explain every image series of a DICOM archive (a folder tree, or a "
                    "DICOMweb URL with --query) into OUT/<study>/<series>/ and "
                    "OUT/manifest.jsonl. Re-running the same command resumes.")
    p.add_argument("archive", help="folder tree of DICOM files, or a DICOMweb base URL")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--model", default="demo-ct3d", help="built-in name or spec file")
    p.add_argument("--method", default="gradcam", help="CAM method (see `medcam methods`)")
    p.add_argument("--routes", metavar="FILE", default=None,
                   help="choose each series' model by a routes file, or 'default' for the "
                        "built-in one (see `medcam routes`); --model is then unused")
    p.add_argument("--workers", type=_workers, default=1,
                   help="worker processes or Ray actors (default 1)")
    p.add_argument("--engine", choices=ENGINES, default="local", help="default local")
    p.add_argument("--ray-address", default=None,
                   help="join this running Ray cluster (default: start a local Ray)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--query", default=None,
                   help="QIDO-RS query for a DICOMweb archive, e.g. 'ModalitiesInStudy=CT'")
    p.add_argument("--retry-failed", action="store_true",
                   help="process again the series that failed in an earlier run")
    p.add_argument("--push", default=None, metavar="DEST",
                   help="send outputs to dicom://AET@host:port or a DICOMweb URL")
    p.add_argument("--calling-aet", default="MEDCAM", help="our AE title for --push dicom://")
    p.add_argument("--preview", action="store_true", help="also write preview.png per series")
    p.add_argument("--outputs", default="all", metavar="KINDS",
                   help="objects per series: comma-separated sc,pm,seg,sr,ko (default all)")
    p.add_argument("--quiet", action="store_true", help="no progress and no summary")
    return p


def run_batch_command(args: argparse.Namespace) -> int:
    """Run ``medcam batch``; MedcamError propagates to :func:`medcam.cli.main`."""
    from medcam.batch.runner import BatchOptions, run_batch
    from medcam.export.result_set import parse_outputs
    from medcam.routing import load_routes

    options = BatchOptions(
        archive=args.archive, out_dir=args.out, model=args.model, method=args.method,
        workers=args.workers, engine=args.engine, ray_address=args.ray_address,
        device=args.device, retry_failed=args.retry_failed, query=args.query,
        push=args.push, calling_aet=args.calling_aet, preview=args.preview,
        progress=not args.quiet, outputs=parse_outputs(args.outputs),
        routes=None if args.routes is None else load_routes(
            None if args.routes == "default" else args.routes))
    report = run_batch(options)
    s = report.stats
    not_pushed = sum(e.push is not None and e.push.get("state") != "stored"
                     for e in report.entries)
    if not args.quiet:
        sys.stdout.write(
            f"{s['series']} series: {s['done']} done, {s['failed']} failed, "
            f"{s['skipped']} skipped; this run processed {s['processed']}, adopted "
            f"{s['adopted']} existing outputs and kept {s['kept']} earlier results"
            + (f"; {not_pushed} not pushed" if not_pushed else "")
            + f"\nwrote {report.manifest}\n")
    return EXIT_PARTIAL if report.n_failed or not_pushed else EXIT_OK
