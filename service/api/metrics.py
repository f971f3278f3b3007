"""``/metrics`` in the Prometheus text format (labels are states, never data values)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from service.api.deps import AUTHORIZED, RuntimeDep
from service.jobs.models import JOB_STATES, OUTBOX_STATES
from service.runtime import Runtime

__all__ = ["render_metrics", "router"]

router = APIRouter(dependencies=AUTHORIZED)

#: Upper bounds (seconds) of the job duration histogram.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _metric(lines: list[str], name: str, kind: str, help_text: str) -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def _durations(lines: list[str], runtime: Runtime) -> None:
    name = "medcam_job_duration_seconds"
    _metric(lines, name, "histogram", "Seconds from acceptance to the end of finished jobs.")
    by_state: dict[str, list[float]] = {"succeeded": [], "failed": []}
    for state, seconds in runtime.store.durations():
        by_state.setdefault(state, []).append(seconds)
    for state, values in sorted(by_state.items()):
        for bound in DURATION_BUCKETS:
            n = sum(v <= bound for v in values)
            lines.append(f'{name}_bucket{{state="{state}",le="{bound:g}"}} {n}')
        lines.append(f'{name}_bucket{{state="{state}",le="+Inf"}} {len(values)}')
        lines.append(f'{name}_sum{{state="{state}"}} {sum(values):.6f}')
        lines.append(f'{name}_count{{state="{state}"}} {len(values)}')


def render_metrics(runtime: Runtime) -> str:
    """Render the metrics page."""
    lines: list[str] = []
    counts = runtime.store.counts()
    _metric(lines, "medcam_jobs", "gauge", "Jobs by state.")
    lines += [f'medcam_jobs{{state="{s}"}} {counts.get(s, 0)}' for s in JOB_STATES]
    _durations(lines, runtime)
    pushed = runtime.outbox.counts()
    _metric(lines, "medcam_push_instances", "gauge", "Output instances by push state.")
    lines += [f'medcam_push_instances{{state="{s}"}} {pushed.get(s, 0)}' for s in OUTBOX_STATES]
    _metric(lines, "medcam_push_failures_total", "counter",
            "Sends of an instance that did not end in stored.")
    lines.append(f"medcam_push_failures_total {runtime.outbox.failures_total()}")
    _metric(lines, "medcam_worker_crashes_total", "counter",
            "Worker subprocesses that died during a job (since start).")
    lines.append(f"medcam_worker_crashes_total {runtime.worker.crashes}")
    if runtime.listener is not None:
        _metric(lines, "medcam_dicom_instances_total", "counter",
                "C-STORE requests answered (since start), by result.")
        lines.append(f'medcam_dicom_instances_total{{result="accepted"}} '
                     f"{runtime.listener.received}")
        lines.append(f'medcam_dicom_instances_total{{result="rejected"}} '
                     f"{runtime.listener.rejected}")
    return "\n".join(lines) + "\n"


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(runtime: RuntimeDep) -> PlainTextResponse:
    """Prometheus scrape endpoint."""
    text = await run_in_threadpool(render_metrics, runtime)
    return PlainTextResponse(text, media_type=CONTENT_TYPE)
