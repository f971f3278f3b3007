"""The inference worker subprocess: runs the pipeline on one job folder at a time.

It is a :class:`medcam.process.WorkerProcess`: it answers the ready handshake, then
talks to its parent over a pipe (a request dict in, a reply dict out). It dies with
its parent (``PR_SET_PDEATHSIG`` plus a watchdog), so a SIGKILLed service never
leaves an orphan writing into the data folder.
"""

from __future__ import annotations

import importlib
import logging
import shutil
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, is_dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

from medcam.durable import sync_tree
from medcam.errors import MedcamError, NoImageSeriesError
from medcam.process import signal_ready
from medcam.routing import load_routes
from service.headers import InvalidInstanceError, read_header
from service.logging import configure_logging
from service.phi import PhiRegistry

__all__ = ["child_main", "load_pipeline", "run_request"]

LOGGER = logging.getLogger(__name__)


def load_pipeline(spec: str) -> Callable[..., Any]:
    """Import ``package.module:function``."""
    module_name, _, attr = spec.partition(":")
    func: object = getattr(importlib.import_module(module_name), attr)
    if not callable(func):
        raise TypeError(f"{spec} is not callable")
    return cast(Callable[..., Any], func)


def _result_dict(result: object, registry: PhiRegistry) -> dict[str, Any]:
    if is_dataclass(result) and not isinstance(result, type):
        data: dict[str, Any] = asdict(result)
    elif isinstance(result, Mapping):
        data = dict(result)
    else:
        raise TypeError("a pipeline result must be a dataclass or a mapping")
    error = data.get("error")
    return {
        "series_instance_uid": data.get("series_instance_uid"),
        "study_instance_uid": data.get("study_instance_uid"),
        "target": data.get("target"),
        "probabilities": dict(data.get("probabilities") or {}),
        "output_series_instance_uid": data.get("output_series_instance_uid"),
        "files": list(data.get("files") or ()),
        "outputs": [dict(o) for o in data.get("outputs") or ()],
        "model": data.get("model"),
        "rule": data.get("rule"),
        "skipped": data.get("skipped"),
        "error": registry.scrub(str(error)) if error else None,
        "error_type": data.get("error_type"),
    }


def _skipped_non_image(input_dir: Path, registry: PhiRegistry) -> dict[str, Any]:
    """The result of a routed job whose inputs hold no image series (an SR, a KOS)."""
    uids: tuple[str | None, str | None] = (None, None)
    for f in sorted(input_dir.glob("*.dcm")):
        try:
            header = read_header(f, registry)
        except InvalidInstanceError:
            continue
        uids = (header.series_instance_uid, header.study_instance_uid)
        break
    return {"series_instance_uid": uids[0], "study_instance_uid": uids[1], "target": None,
            "probabilities": {}, "output_series_instance_uid": None, "files": [],
            "objects": {}, "model": None, "rule": None, "skipped": "not_an_image_series",
            "error": None, "error_type": None}


def run_request(func: Callable[..., Any], request: dict[str, Any],
                registry: PhiRegistry) -> dict[str, Any]:
    """Run the pipeline for one job; never raises (the reply says what happened)."""
    input_dir, out = Path(request["input_dir"]), Path(request["output_dir"])
    for f in input_dir.glob("*.dcm"):
        try:
            read_header(f, registry)
        except InvalidInstanceError:
            continue
    shutil.rmtree(out, ignore_errors=True)
    for stale in out.parent.glob(f".{out.name}.*"):
        shutil.rmtree(stale, ignore_errors=True)
    kwargs: dict[str, Any] = {"model": request["model"], "method": request["method"],
                              "device": request.get("device", "cpu")}
    if request.get("outputs"):
        kwargs["outputs"] = request["outputs"]
    try:
        if request.get("routes"):
            kwargs["routes"] = load_routes(None if request["routes"] == "default"
                                           else request["routes"])
        report = func(input_dir, out, **kwargs)
    except NoImageSeriesError as exc:
        if not request.get("routes"):
            return {"ok": False, "error": registry.scrub(f"{type(exc).__name__}: {exc}")}
        return {"ok": True, "outputs": [], "results": [_skipped_non_image(input_dir, registry)]}
    except MedcamError as exc:
        return {"ok": False, "error": registry.scrub(f"{type(exc).__name__}: {exc}")}
    except Exception as exc:
        LOGGER.exception("the pipeline raised an unexpected error")
        return {"ok": False, "error": f"internal error in the pipeline ({type(exc).__name__})"}
    results = [_result_dict(r, registry) for r in report.results]
    outputs: list[dict[str, Any]] = []
    for r in results:
        kinds: Counter[str] = Counter()
        for o in r.pop("outputs"):
            rel = str(o.get("file", ""))
            if not rel or not (out / rel).is_file() or not o.get("sop_instance_uid"):
                return {"ok": False, "error": "the pipeline reported an output it did not write"}
            kinds[str(o.get("kind", "sc"))] += 1
            outputs.append({"sop_instance_uid": str(o["sop_instance_uid"]),
                            "study_instance_uid": str(r["study_instance_uid"]), "path": rel,
                            "kind": str(o.get("kind", "sc")),
                            "sop_class_uid": o.get("sop_class_uid")})
        r["objects"] = dict(kinds)
    if out.exists():
        sync_tree(out)
    return {"ok": True, "results": results, "outputs": outputs}


def _serve(conn: Connection, pipeline: str, registry: PhiRegistry) -> None:
    try:
        func: Callable[..., Any] | None = load_pipeline(pipeline)
        unavailable = ""
    except (ImportError, AttributeError, TypeError) as exc:
        func, unavailable = None, f"the worker pipeline cannot be loaded ({type(exc).__name__})"
        LOGGER.exception("cannot load the worker pipeline %s", pipeline)
    signal_ready(conn)  # an unloadable pipeline is answered per request
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        if func is None:
            conn.send({"ok": False, "error": unavailable})
            continue
        conn.send(run_request(func, request, registry))


def child_main(conn: Connection, pipeline: str, log_level: str) -> None:
    """Entry point of the worker subprocess (a :class:`~medcam.process.WorkerProcess` target)."""
    registry = PhiRegistry()
    configure_logging(registry, log_level)
    try:
        _serve(conn, pipeline, registry)
    except BaseException:  # outermost boundary: no traceback may reach stderr unscrubbed
        LOGGER.exception("the worker process failed")
        raise SystemExit(1) from None
