"""Command line: ``medcam explain``, ``calibrate``, ``batch``, ``audit``, ``routes``, and more.

Subcommands: ``explain``, ``calibrate``, ``batch``, ``audit``, ``routes``, ``models``, ``methods``.

Exit codes: 0 success; 2 bad input or usage (one ``error: ...`` line on stderr,
nothing else, nothing written); 3 some series were explained and others failed (the
failures are listed in ``summary.json``); 1 an internal error (reported without a
traceback). Library log records below ERROR and Python warnings are shown only with
``--verbose``; ``--debug`` also prints the traceback of a failure. Series warnings
(``summary.json`` ``warnings``) are printed as ``warning: ...`` lines on stderr.
SIGTERM is handled like Ctrl-C, so staging folders are removed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from medcam.audit.cli import add_audit_parser, run_audit_command
from medcam.batch.cli import add_batch_parser, run_batch_command
from medcam.calibrate_cli import add_calibrate_parser, run_calibrate_command, unit_interval
from medcam.errors import MedcamError
from medcam.routing.cli import add_routes_parser, run_routes_command

__all__ = ["main"]

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_PARTIAL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """Usage errors: one line, exit 2."""
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="medcam", description="Class activation maps for DICOM series.")
    p.add_argument("--verbose", action="store_true", help="show library log messages")
    p.add_argument("--debug", action="store_true", help="--verbose and tracebacks")
    sub = p.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("explain", help="explain every image series under INPUT")
    ex.add_argument("input", type=Path, help="DICOM folder tree or file")
    ex.add_argument("--out", type=Path, required=True, help="output folder")
    ex.add_argument("--model", default="demo-ct3d", help="built-in name or spec file")
    ex.add_argument("--method", default="gradcam", help="CAM method (see `medcam methods`)")
    ex.add_argument("--target", default=None,
                    help="class name to explain, or 'predicted' (default: the model's "
                         "positive class, else the predicted one)")
    ex.add_argument("--target-layer", default=None, help="override the model's target layer")
    ex.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    ex.add_argument("--scale", choices=("calibrated", "volume"), default=None,
                    help="colour scale: the model's calibrated scale (default where the spec "
                         "has one for the method) or per volume (1 = the series maximum)")
    ex.add_argument("--sc-opacity", type=unit_interval("opacity", 0.0, 1.0, low_open=True),
                    default=None, help="Secondary Capture overlay opacity at 1, in (0, 1]")
    ex.add_argument("--sc-threshold", type=unit_interval("threshold", 0.0, 1.0, high_open=True),
                    default=None, help="Secondary Capture: values below it are not coloured, "
                                       "in [0, 1) of the scale")
    ex.add_argument("--sc-compression", choices=("jpeg-ls", "rle", "none"), default="jpeg-ls",
                    help="Secondary Capture transfer syntax: JPEG-LS Lossless (default), "
                         "RLE Lossless or none (Explicit VR Little Endian)")
    ex.add_argument("--quiet", action="store_true", help="print nothing on success")
    ex.add_argument("--routes", metavar="FILE", help="choose each series' model by routing "
                    "rules (a TOML file, or 'default'); replaces --model")
    ex.add_argument("--outputs", default="all", metavar="KINDS",
                    help="objects per series: comma-separated sc,pm,seg,sr,ko (default all)")
    ex.add_argument("--seg-threshold", type=float, default=0.5, metavar="T",
                    help="SEG region: map values at or above T on the map's scale (0.5)")
    ex.add_argument("--key-slices", type=int, default=3, metavar="K",
                    help="slices in the Key Object Selection (default 3)")
    ex.add_argument("--pm-float", action=argparse.BooleanOptionalAction, default=True,
                    help="Parametric Map as float32 scale values, uncompressed (default; "
                         "OHIF 3.x shows it); --no-pm-float: JPEG-LS lossless 16-bit "
                         "integers with a Real World Value Mapping, about 5x smaller")
    _add_hardening_args(ex)
    add_calibrate_parser(sub)
    sub.add_parser("models", help="list the built-in models")
    sub.add_parser("methods", help="list the CAM methods")
    add_audit_parser(sub)
    add_batch_parser(sub)
    add_routes_parser(sub)
    for sp in sub.choices.values():  # the global flags also after the subcommand
        for flag in ("--verbose", "--debug"):
            sp.add_argument(flag, action="store_true", default=argparse.SUPPRESS,
                            help=argparse.SUPPRESS)
    return p


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("needs a positive number") from exc
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("needs a positive number")
    return value


def _add_hardening_args(ex: argparse.ArgumentParser) -> None:
    from medcam.series.stack import GEOMETRY_TOLERANCE

    ex.add_argument("--geometry-tolerance", type=_positive, default=GEOMETRY_TOLERANCE,
                    metavar="F", help="in-plane drift allowed between slice positions, as a "
                    f"fraction of the pixel spacing (default {GEOMETRY_TOLERANCE})")
    ex.add_argument("--assume-pixel-spacing", type=_positive, default=None, metavar="MM",
                    help="pixel spacing for a radiograph that declares none (default: refuse)")
    ex.add_argument("--force", action="store_true",
                    help="run even if the model's body part or field-of-view check fails")


class _StderrHandler(logging.Handler):
    """Writes to the current ``sys.stderr`` (so that a redirected stderr is honoured)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def _configure_logging(verbose: bool, debug: bool) -> logging.Handler:
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO if verbose else logging.ERROR)
    handler.setLevel(root.level)
    logging.captureWarnings(True)
    return handler


def _check_input(args: argparse.Namespace) -> None:
    """Name a missing input path exactly as typed on the command line."""
    from medcam.errors import NotDicomError

    typed = getattr(args, "input", None) if args.command == "explain" else \
        getattr(args, "archive", None) if args.command == "batch" else None
    if typed is None or "://" in str(typed):
        return
    path = Path(typed)
    if not (path.exists() or path.is_symlink()):
        raise NotDicomError(f"input path {str(typed)!r} does not exist")


def _cmd_models() -> int:
    from medcam.model.load import builtin_names, resolve_spec

    for name in builtin_names():
        spec = resolve_spec(name)
        size = "x".join(str(s) for s in spec.input_size)
        print(f"{spec.name:<12} {spec.version:<5} {spec.spatial_dims}D {size:<9} "
              f"classes={','.join(spec.class_names)}  {spec.description}")
    return EXIT_OK


def _cmd_methods() -> int:
    from medcam import cam

    for name in cam.available():
        info = cam.describe(name)
        grad = "backward" if info.needs_grad else "no-grad"
        print(f"{name:<12} {info.cost_class:<13} {grad:<9} {info.paper}")
    return EXIT_OK


def _cmd_explain(args: argparse.Namespace) -> int:
    from medcam.export.result_set import ExportOptions, parse_outputs
    from medcam.routing import load_routes
    from medcam.run import explain_folder

    options = ExportOptions(outputs=parse_outputs(args.outputs),
                            seg_threshold=args.seg_threshold, key_slices=args.key_slices,
                            pm_float=args.pm_float, sc_opacity=args.sc_opacity,
                            sc_threshold=args.sc_threshold,
                            sc_compression=None if args.sc_compression == "none"
                            else args.sc_compression)
    from medcam.staging import terminate_as_interrupt

    with terminate_as_interrupt():
        report = explain_folder(args.input, args.out, model=args.model, method=args.method,
                                target=args.target, target_layer=args.target_layer,
                                device=args.device, options=options, scale=args.scale,
                                geometry_tolerance=args.geometry_tolerance,
                                assume_pixel_spacing=args.assume_pixel_spacing,
                                force=args.force, routes=None if args.routes is None else
                                load_routes(None if args.routes == "default" else args.routes))
    for item in report.results:
        for note in item.warnings:
            sys.stderr.write(f"warning: series {item.series_instance_uid}: {note}\n")
    if not args.quiet:
        for item in report.results:
            if item.skipped is not None:
                print(f"{item.series_instance_uid}: skipped ({item.skipped}, rule {item.rule})")
            elif item.error is None:
                scale = item.scale or {}
                print(f"{item.series_instance_uid}: {item.target} p={item.probability:.3f}, "
                      f"map max {item.shown_max:.2f} ({scale.get('mode')} scale) -> "
                      f"\"{item.output_series_description}\" {item.output_series_instance_uid}"
                      f" ({len(item.files)} files)")
            else:
                print(f"{item.series_instance_uid}: failed: {item.error}")
            for note in item.notes:
                print(f"  note: {note}")
        print(f"wrote {args.out / 'summary.json'}")
    return EXIT_PARTIAL if report.n_failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``medcam`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    handler = _configure_logging(bool(getattr(args, "verbose", False)) or debug, debug)
    try:
        return _dispatch(args, debug)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.captureWarnings(False)


def _dispatch(args: argparse.Namespace, debug: bool) -> int:
    try:
        _check_input(args)
        if args.command == "models":
            return _cmd_models()
        if args.command == "methods":
            return _cmd_methods()
        if args.command == "audit":
            return run_audit_command(args)
        if args.command == "batch":
            return run_batch_command(args)
        if args.command == "routes":
            return run_routes_command(args)
        if args.command == "calibrate":
            return run_calibrate_command(args)
        return _cmd_explain(args)
    except MedcamError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        from medcam.staging import Terminated

        terminated = isinstance(exc, Terminated)
        sys.stderr.write(f"error: {'terminated' if terminated else 'interrupted'}\n")
        return 143 if terminated else 130
    except Exception as exc:  # noqa: BLE001 - the CLI must never print a traceback
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"error: internal error ({type(exc).__name__}); please report it\n")
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
