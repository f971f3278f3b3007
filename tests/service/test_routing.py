"""Routing in the service (issue 18): one node, every model.

A study with a CT volume, a chest radiograph, a CT scout and an SR is sent to a real
service process by C-STORE (dcmtk ``storescu``) with ``MEDCAM_ROUTES=default``: the
CT's and the radiograph's result sets end on a real Orthanc in the study, the scout
is skipped with its reason, the SR (dropped at intake) is recorded as a skipped
series with its SOP class, nothing fails. A routes file naming a model whose weights
are corrupt fails exactly the jobs that need it, with the reason, and the next job
(another model) succeeds; editing the routes file while the service runs changes
nothing (the child uses the text whose digest the jobs record).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from medcam.model.spec import BUILTIN_DIR
from medcam.synthetic.projection import write_projection
from tests.service.dicomgen import series_uid, study_uid, write_ct
from tests.service.orthanc import Orthanc, free_port
from tests.service.process import ServiceProcess

SR_FILE = Path(pydicom.__file__).parent / "data" / "test_files" / "reportsi.dcm"


def _jobs(svc: ServiceProcess, n: int, timeout_s: float = 240) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        jobs = svc.get("/v1/jobs").json()
        if len(jobs) >= n and all(j["state"] in ("succeeded", "failed") for j in jobs):
            return [svc.job(j["job_id"]) for j in jobs]
        time.sleep(0.3)
    raise AssertionError(f"jobs did not finish: {svc.log_text()[-3000:]}")


def _start(tmp_path: Path, routes: str) -> tuple[Orthanc, ServiceProcess]:
    orthanc = Orthanc(tmp_path / "orthanc")
    orthanc.start()
    env = {"MEDCAM_DATA_DIR": str(tmp_path / "data"), "MEDCAM_HTTP_PORT": str(free_port()),
           "MEDCAM_DICOM_PORT": str(free_port()), "MEDCAM_API_TOKEN": "routing-token-8c2e5f1a",
           "MEDCAM_PACS_AET": orthanc.aet, "MEDCAM_PACS_PORT": str(orthanc.dicom_port),
           "MEDCAM_SERIES_QUIET_S": "2", "MEDCAM_ROUTES": routes}
    try:
        return orthanc, ServiceProcess(env, tmp_path / "service.log").start()
    except BaseException:
        orthanc.kill()
        raise


@pytest.fixture
def routed(tmp_path: Path) -> tuple[Orthanc, ServiceProcess]:
    orthanc, service = _start(tmp_path, "default")
    yield orthanc, service
    service.kill()
    orthanc.kill()


def _storescu(svc: ServiceProcess, files: list[Path]) -> None:
    run = subprocess.run(["storescu", "-aet", "MODALITY", "-aec", "MEDCAM", "127.0.0.1",
                          str(svc.dicom_port), *map(str, files)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    """The decisions table of issue 18 (series, rule, action, outcome), in Markdown."""
    lines = ["| series | rule | action | outcome |", "|---|---|---|---|"]
    return "\n".join(lines + [f"| {' | '.join(r)} |" for r in rows])


def test_a_mixed_study_goes_to_each_model_and_the_rest_is_skipped(
        routed: tuple[Orthanc, ServiceProcess], tmp_path: Path) -> None:
    orthanc, svc = routed
    study = study_uid("route-ct")
    files = write_ct(tmp_path / "ct", "route-ct", slices=8)
    files += write_ct(tmp_path / "scout", "route-scout", slices=8, study_instance_uid=study,
                      extra={"ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"]})
    image = np.random.default_rng(1).uniform(0, 1, (128, 128)).astype(np.float32)
    files.append(write_projection(image, (2.5, 2.5), tmp_path / "dx" / "dx.dcm",
                                  study_instance_uid=study, uid_seed="route-dx"))
    sr = pydicom.dcmread(SR_FILE)
    sr.StudyInstanceUID = study
    sr.save_as(tmp_path / "sr.dcm")
    files.append(tmp_path / "sr.dcm")
    _storescu(svc, files)
    jobs = {j["series_instance_uid"]: j for j in _jobs(svc, 4)}
    dx_series = pydicom.dcmread(files[-2], stop_before_pixels=True).SeriesInstanceUID
    sr_series = str(sr.SeriesInstanceUID)
    assert set(jobs) == {series_uid("route-ct"), series_uid("route-scout"), dx_series,
                         sr_series}
    assert {j["state"] for j in jobs.values()} == {"succeeded"}  # nothing failed
    assert {j["study_instance_uid"] for j in jobs.values()} == {study}
    decisions = {uid: (j["results"][0]["rule"], j["results"][0]["model"],
                       j["results"][0]["skipped"]) for uid, j in jobs.items()}
    assert decisions == {series_uid("route-ct"): ("ct-volumes", "demo-ct3d", None),
                         series_uid("route-scout"): ("localizers", None, "localizer"),
                         dx_series: ("radiographs", "demo-dx2d", None),
                         sr_series: (None, None, "not_an_image_series")}
    ct, dx, scout = jobs[series_uid("route-ct")], jobs[dx_series], jobs[series_uid("route-scout")]
    report = jobs[sr_series]
    assert report["results"][0]["sop_class_uid"] == sr.SOPClassUID
    assert report["results"][0]["n_instances"] == 1
    assert {"sc", "pm", "sr", "ko"} <= set(ct["objects"])
    assert set(dx["objects"]) == {"sc", "ko"}  # a projection: no PM, SEG or SR
    for skipped in (scout, report):
        assert skipped["push"] == [] and skipped["output_sop_instance_uids"] == []
    stored = set(orthanc.sop_instance_uids())
    assert stored == set(ct["output_sop_instance_uids"]) | set(dx["output_sop_instance_uids"])
    assert all(p["state"] == "stored" for j in (ct, dx) for p in j["push"])
    assert str(sr.PatientName) not in json.dumps(report)  # UIDs and codes only
    # the same SR sent again is the same recorded series, not a second one
    _storescu(svc, [tmp_path / "sr.dcm"])
    time.sleep(1.0)
    assert len(svc.get("/v1/jobs").json()) == 4
    names = {series_uid("route-ct"): "CT volume (8 slices)", dx_series: "DX chest radiograph",
             series_uid("route-scout"): "CT scout (LOCALIZER)", sr_series: "SR (Basic Text SR)"}
    rows = []
    for uid in names:
        r, j = jobs[uid]["results"][0], jobs[uid]
        action = f"explain with {r['model']}" if r["model"] else f"skip: {r['skipped']}"
        outcome = (f"{j['state']}, {len(j['output_sop_instance_uids'])} objects stored "
                   f"({', '.join(sorted(j['objects']))})" if r["model"]
                   else f"{j['state']}, nothing pushed")
        rows.append((names[uid], r["rule"] or "(none)", action, outcome))
    assert [r[1] for r in rows] == ["ct-volumes", "radiographs", "localizers", "(none)"]
    if os.environ.get("ISSUE18_TABLE"):  # the closing note's table, as measured
        Path(os.environ["ISSUE18_TABLE"]).write_text(_table(rows) + "\n")


def _broken_model(tmp_path: Path) -> Path:
    """A spec of the CT model whose weights file is corrupt (its sha256 matches the junk)."""
    junk = tmp_path / "broken-ct.pt"
    junk.write_bytes(b"\x80\x02 not a checkpoint " * 200)
    data = json.loads((BUILTIN_DIR / "demo-ct3d.json").read_text())
    data.update(name="broken-ct", weights=str(junk),
                sha256=hashlib.sha256(junk.read_bytes()).hexdigest())
    spec = tmp_path / "broken-ct.json"
    spec.write_text(json.dumps(data))
    return spec


def test_a_model_that_fails_to_load_fails_its_job_only_and_edits_wait_for_a_restart(
        tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text(f"[[rule]]\nname = 'ct-broken'\nmodality = ['CT']\n"
                      f"model = '{_broken_model(tmp_path)}'\n\n"
                      "[[rule]]\nname = 'dx'\nmodality = ['DX']\nmodel = 'demo-dx2d'\n")
    orthanc, svc = _start(tmp_path, str(routes))
    try:
        # edited while running: neither the child nor the dedup key may see this
        routes.write_text("[[rule]\nthis is not TOML\n")
        _storescu(svc, write_ct(tmp_path / "ct", "broken-ct", slices=8))
        (ct,) = _jobs(svc, 1)
        assert ct["state"] == "failed"
        assert ct["error"].startswith("ModelError: ") and "broken-ct" in ct["error"]
        assert "not a readable state_dict checkpoint" in ct["error"]
        image = np.random.default_rng(2).uniform(0, 1, (96, 96)).astype(np.float32)
        _storescu(svc, [write_projection(image, (2.5, 2.5), tmp_path / "dx" / "dx.dcm",
                                         uid_seed="after-broken")])
        (dx,) = [j for j in _jobs(svc, 2) if j["job_id"] != ct["job_id"]]
        assert dx["state"] == "succeeded", dx
        assert (dx["results"][0]["rule"], dx["results"][0]["model"]) == ("dx", "demo-dx2d")
        assert set(orthanc.sop_instance_uids()) == set(dx["output_sop_instance_uids"])
        # the CT again: the broken model is tried again (not cached), and fails again
        _storescu(svc, write_ct(tmp_path / "ct2", "broken-ct-2", slices=8))
        third = [j for j in _jobs(svc, 3) if j["job_id"] not in (ct["job_id"], dx["job_id"])]
        assert [j["state"] for j in third] == ["failed"] and "broken-ct" in third[0]["error"]
    finally:
        svc.kill()
        orthanc.kill()


@pytest.mark.parametrize(("text", "message"), [
    ("[[rule]]\nname = 'ct'\nmodel = 'no-such-model'\n", "unknown model 'no-such-model'"),
    ("[[rule]\n", "not valid TOML"),
])
def test_a_bad_routes_file_refuses_to_start_with_one_line(tmp_path: Path, text: str,
                                                          message: str) -> None:
    import sys

    routes = tmp_path / "routes.toml"
    routes.write_text(text)
    run = subprocess.run([sys.executable, "-m", "service"], capture_output=True, text=True,
                         timeout=60, cwd=Path(__file__).resolve().parents[2],
                         env={"PATH": "/usr/bin:/bin", "MEDCAM_ROUTES": str(routes),
                              "MEDCAM_DATA_DIR": str(tmp_path / "data")})
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "data").exists()
