"""``medcam routes``: check a routes file, and dry-run it over an archive.

``medcam routes check FILE`` validates the file (syntax, keys, models, methods,
outputs) and lists its rules; with an ``ARCHIVE`` it prints, for every image series
found, the rule it would take and the action, without running any model.
``medcam routes default`` prints the built-in routes (a starting point).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["add_routes_parser", "dry_run", "run_routes_command"]

_P = TypeVar("_P", bound=argparse.ArgumentParser)


def add_routes_parser(sub: argparse._SubParsersAction[_P]) -> None:
    """Register ``medcam routes`` on the top-level subparsers."""
    p = sub.add_parser("routes", help="check a routes file; dry-run it over an archive")
    routes_sub = p.add_subparsers(dest="routes_command", required=True)
    check = routes_sub.add_parser("check", help="validate FILE; with ARCHIVE, print the "
                                  "decision for every series (no model is run)")
    check.add_argument("file", type=Path, help="routes file (TOML), or 'default'")
    check.add_argument("archive", type=Path, nargs="?", help="folder of DICOM files")
    check.add_argument("--json", action="store_true", help="one JSON object per series")
    routes_sub.add_parser("default", help="print the built-in routes file")


def dry_run(routes_file: Path | None, archive: Path) -> list[dict[str, Any]]:
    """The decision for every image series under ``archive`` (series UID, facts, rule)."""
    from medcam.routing import check_models, load_routes, route
    from medcam.series.scan import no_series_error, scan_series

    routes = load_routes(routes_file)
    check_models(routes)
    refs, scanned = scan_series(archive)
    if not refs:
        raise no_series_error(scanned)
    return [{"series_instance_uid": ref.series_instance_uid, "modality": ref.modality,
             "n_instances": ref.n_instances, **route(routes, ref).describe()}
            for ref in refs]


def _line(text: str) -> None:
    sys.stdout.write(text + "\n")


def run_routes_command(args: argparse.Namespace) -> int:
    """Run ``medcam routes ...``; returns the exit code (errors raise MedcamError)."""
    from medcam.routing import check_models, load_routes

    if args.routes_command == "default":
        sys.stdout.write(Path(__file__).with_name("default.toml").read_text(encoding="utf-8"))
        return 0
    routes_file = None if str(args.file) == "default" else args.file
    if args.archive is None:
        routes = load_routes(routes_file)
        check_models(routes)
        for n, rule in enumerate(routes.rules, start=1):
            action = f"skip ({rule.skip})" if rule.skip else f"model {rule.model}"
            _line(f"{n:>3} {rule.name:<24} {action:<28} {json.dumps(rule.conditions)}")
        _line(f"{routes.source}: {len(routes.rules)} rules, valid")
        return 0
    for row in dry_run(routes_file, args.archive):
        if args.json:
            _line(json.dumps(row, sort_keys=True))
            continue
        outcome = row.get("model") if row["action"] == "explain" else row.get("reason")
        _line(f"{row['series_instance_uid']:<64} {row['modality']:<4} {row['n_instances']:>5}"
              f"  {row.get('rule') or '-':<24} {row['action']:<8} {outcome}")
    return 0
