"""The self-contained HTML report: tables, curves, overlays and run times (PNG base64).

The page has no script and loads nothing: CSS is inline and every figure is an
``<img src="data:image/png;base64,...">``. It shows identifiers (case folder names,
UIDs) and numbers only, never patient attributes.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from medcam.audit.evaluate import Overlay
from medcam.audit.plots import curves_png, overlay_png, sanity_png, times_png
from medcam.audit.schema import METRICS
from medcam.durable import write_file_atomic

__all__ = ["render_report", "write_report"]

_CSS = """
body{font-family:DejaVu Sans,Arial,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f0f0f0}td.l,th.l{text-align:left}
.best{font-weight:bold;background:#e6f4e6}.ci{color:#777;font-size:10px}
.err{color:#a00}img{max-width:100%}pre{background:#f7f7f7;padding:8px;font-size:11px}
.meta{color:#555;font-size:12px}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _img(png: str | None, alt: str) -> str:
    if png is None:
        return f"<p class='meta'>{_e(alt)}: not computed.</p>"
    return f"<img alt='{_e(alt)}' src='data:image/png;base64,{png}'>"


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _summary_table(result: Mapping[str, Any]) -> str:
    agg, methods = result["aggregate"], result["methods"]
    shown = [m for m in METRICS if any(agg[k][m.key]["mean"] is not None for k in methods)]
    head = "".join(f"<th title='{_e(m.definition)}'>{_e(m.label)} "
                   f"{'↑' if m.better == 'higher' else '↓'}</th>" for m in shown)
    rows = []
    for method in methods:
        cells = []
        for info in shown:
            stat = agg[method][info.key]
            means = [agg[k][info.key]["mean"] for k in methods
                     if agg[k][info.key]["mean"] is not None]
            best = (max(means) if info.better == "higher" else min(means)) if means else None
            cls = " class='best'" if stat["mean"] is not None and stat["mean"] == best \
                and len(set(means)) > 1 else ""
            ci = "" if stat["ci"] is None else \
                f"<br><span class='ci'>[{_fmt(stat['ci'][0])}, {_fmt(stat['ci'][1])}] " \
                f"n={stat['n']}</span>"
            cells.append(f"<td{cls}>{_fmt(stat['mean'])}{ci}</td>")
        rows.append(f"<tr><th class='l'>{_e(method)}</th>{''.join(cells)}</tr>")
    level = round(100 * result["parameters"]["confidence"])
    return (f"<p class='meta'>Mean over cases with a {level}% percentile-bootstrap interval "
            f"and the number of cases; ↑ higher is better, ↓ lower is better; best in "
            f"green.</p><table><tr><th class='l'>method</th>{head}</tr>{''.join(rows)}</table>")


def _times_table(result: Mapping[str, Any]) -> str:
    rows = []
    for method in result["methods"]:
        t = result["aggregate"][method]["time_s"]
        n_failed = result["aggregate"][method]["n_failed"]
        rows.append(f"<tr><th class='l'>{_e(method)}</th><td>{_fmt(t['cam']['mean'])}</td>"
                    f"<td>{_fmt(t['metrics']['mean'], 1)}</td><td>{t['cam']['n']}</td>"
                    f"<td>{n_failed}</td></tr>")
    return ("<table><tr><th class='l'>method</th><th>CAM s/case</th><th>metrics s/case</th>"
            f"<th>cases</th><th>failed</th></tr>{''.join(rows)}</table>"
            f"<p class='meta'>Total run time {result['total_time_s']:.1f} s.</p>")


def _case_rows(result: Mapping[str, Any]) -> str:
    methods = result["methods"]
    head = "".join(f"<th>{_e(m)} PG / dist mm</th>" for m in methods)
    rows = []
    for case in result["cases"]:
        if case["error"] is not None:
            rows.append(f"<tr><th class='l'>{_e(case['case'])}</th><td class='err l' "
                        f"colspan='{3 + len(methods)}'>{_e(case['error'])}</td></tr>")
            continue
        gt = case["ground_truth"]
        cells = []
        for m in methods:
            entry = case["methods"].get(m, {})
            if "error" in entry:
                cells.append(f"<td class='err'>{_e(entry['error'])[:80]}</td>")
            elif "pointing_game" in entry:
                cells.append(f"<td>{'hit' if entry['pointing_game'] else 'miss'} / "
                             f"{entry['pointing_distance_mm']:.1f}</td>")
            else:
                cells.append("<td>no SEG</td>")
        rows.append(f"<tr><th class='l'>{_e(case['case'])}</th><td>{_e(case['target'])}</td>"
                    f"<td>{case['probabilities'][case['target']]:.3f}</td>"
                    f"<td>{'-' if gt is None else gt['voxels']}</td>{''.join(cells)}</tr>")
    return ("<table><tr><th class='l'>case</th><th>target</th><th>p(target)</th>"
            f"<th>GT voxels</th>{head}</tr>{''.join(rows)}</table>")


def _overlays(result: Mapping[str, Any], overlays: Sequence[Overlay]) -> str:
    parts = []
    for case in result["cases"]:
        mine = [o for o in overlays if o.case_id == case["case"]]
        if not mine:
            continue
        caption = ("ground truth on this slice in green, its outline over all slices dashed "
                   "yellow" if case.get("ground_truth") else "no ground truth")
        parts.append(f"<h3>{_e(case['case'])} <span class='meta'>({caption}; map on its "
                     f"hottest slice)</span></h3>"
                     f"{_img(overlay_png(mine, case.get('modality', '')), case['case'])}")
    return "".join(parts)


def render_report(result: Mapping[str, Any], overlays: Sequence[Overlay]) -> str:
    """Build the report page from the metrics.json structure and the overlays."""
    model, data, methods = result["model"], result["dataset"], result["methods"]
    agg = result["aggregate"]
    params = json.dumps(result["parameters"], indent=1)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>medcam audit report</title>
<style>{_CSS}</style></head><body>
<h1>medcam audit: {_e(model['name'])} {_e(model['version'])}</h1>
<p class="meta">dataset <b>{_e(data['name'])}</b>: {data['n_cases']} cases,
{data['n_with_ground_truth']} with a DICOM SEG ground truth, {data['n_failed']} failed ·
methods {_e(', '.join(methods))} · target layer {_e(model['target_layer'])} ·
weights sha256 {_e(model['sha256'][:12])}… · {_e(result['created_utc'])} ·
medcam {_e(result['versions']['medcam'])}</p>
<h2>Methods by metric</h2>{_summary_table(result)}
<h2>Deletion, insertion and ROAD curves</h2>{_img(curves_png(agg, methods), 'curves')}
<h2>Sanity check: cascading model randomisation</h2>{_img(sanity_png(agg, methods), 'sanity')}
<h2>Run times</h2>{_times_table(result)}{_img(times_png(agg, methods), 'run times')}
<h2>Cases</h2>{_case_rows(result)}
<h2>Overlays</h2>{_overlays(result, overlays)}
<h2>Parameters</h2><pre>{_e(params)}</pre>
</body></html>
"""


def write_report(path: Path, result: Mapping[str, Any], overlays: Sequence[Overlay]) -> Path:
    """Write :func:`render_report` to ``path`` (atomically) and return it."""
    write_file_atomic(Path(path), render_report(result, overlays).encode("utf-8"))
    return Path(path)
