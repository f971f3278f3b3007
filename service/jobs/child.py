"""The inference worker subprocess: runs the pipeline on one job folder at a time.

It is a :class:`medcam.process.WorkerProcess`: it answers the ready handshake, then
talks to its parent over a pipe (a request dict in, a reply dict out). It dies with
its parent (``PR_SET_PDEATHSIG`` plus a watchdog), so a SIGKILLed service never
leaves an orphan writing into the data folder.

The routes are parsed once, when the child starts, from the text the service read
at start (:class:`ChildConfig`; its digest is in every job's deduplication key), so
editing the file while the service runs changes nothing until a restart. Models are
kept between jobs in a bounded cache (:class:`~medcam.model.cache.ModelCache`,
``MEDCAM_MODEL_CACHE_MB``), handed to pipelines that take a ``models`` argument
(:func:`medcam.run.explain_folder` does); a model that fails to load fails the jobs
that need it, with its reason, and is tried again for the next such job.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import shutil
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, is_dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

from medcam.durable import sync_tree
from medcam.errors import MedcamError, NoImageSeriesError
from medcam.model.cache import DEFAULT_BUDGET_MB, ModelCache
from medcam.process import signal_ready
from medcam.routing import Routes, parse_routes
from service.headers import InvalidInstanceError, read_header
from service.logging import configure_logging
from service.phi import PhiRegistry

__all__ = ["ChildConfig", "ChildState", "child_main", "load_pipeline", "run_request"]

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChildConfig:
    """What the inference child is started with (picklable)."""

    pipeline: str
    log_level: str = "INFO"
    device: str = "cpu"
    #: the routes file's text as read at service start (``None``: no routing)
    routes_text: str | None = None
    routes_source: str = "routes"
    #: the routes file's folder: relative model paths of its rules are taken from it
    routes_dir: str | None = None
    model_cache_mb: float = DEFAULT_BUDGET_MB


@dataclass(frozen=True)
class ChildState:
    """What the child prepared once: the parsed routes and the model cache."""

    routes: Routes | None = None
    models: ModelCache | None = None


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


def _takes_models(func: Callable[..., Any]) -> bool:
    try:
        return "models" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def run_request(func: Callable[..., Any], request: dict[str, Any], registry: PhiRegistry,
                state: ChildState | None = None) -> dict[str, Any]:
    """Run the pipeline for one job; never raises (the reply says what happened)."""
    state = state or ChildState()
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
    if state.routes is not None:
        kwargs["routes"] = state.routes
    if state.models is not None and _takes_models(func):
        kwargs["models"] = state.models
    try:
        report = func(input_dir, out, **kwargs)
    except NoImageSeriesError as exc:
        if state.routes is None:
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


def _prepare(config: ChildConfig) -> ChildState:
    """Parse the routes (once) and make the model cache.

    Raises:
        RoutesError: the routes text no longer parses.

    """
    routes = None
    if config.routes_text is not None:
        routes = parse_routes(config.routes_text, config.routes_source,
                              None if config.routes_dir is None else Path(config.routes_dir))
    return ChildState(routes, ModelCache(budget_mb=config.model_cache_mb, device=config.device))


def _serve(conn: Connection, config: ChildConfig, registry: PhiRegistry) -> None:
    pipeline, state = config.pipeline, ChildState()
    try:
        func: Callable[..., Any] | None = load_pipeline(pipeline)
        state = _prepare(config)
        unavailable = ""
    except (ImportError, AttributeError, TypeError) as exc:
        func, unavailable = None, f"the worker pipeline cannot be loaded ({type(exc).__name__})"
        LOGGER.exception("cannot load the worker pipeline %s", pipeline)
    except MedcamError as exc:
        func, unavailable = None, registry.scrub(f"{type(exc).__name__}: {exc}")
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
        conn.send(run_request(func, request, registry, state))


def child_main(conn: Connection, config: ChildConfig) -> None:
    """Entry point of the worker subprocess (a :class:`~medcam.process.WorkerProcess` target)."""
    registry = PhiRegistry()
    configure_logging(registry, config.log_level)
    try:
        _serve(conn, config, registry)
    except BaseException:  # outermost boundary: no traceback may reach stderr unscrubbed
        LOGGER.exception("the worker process failed")
        raise SystemExit(1) from None
