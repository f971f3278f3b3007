"""Routing in the service (issue 18): one node, every model.

A study with a CT volume, a chest radiograph, a CT scout and an SR is sent to a real
service process by C-STORE (dcmtk ``storescu``) with ``MEDCAM_ROUTES=default``: the
CT's and the radiograph's result sets end on a real Orthanc in the study, the scout
is skipped with its reason, the SR is acknowledged and never queued, nothing fails.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

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


@pytest.fixture
def routed(tmp_path: Path) -> tuple[Orthanc, ServiceProcess]:
    orthanc = Orthanc(tmp_path / "orthanc")
    orthanc.start()
    env = {"MEDCAM_DATA_DIR": str(tmp_path / "data"), "MEDCAM_HTTP_PORT": str(free_port()),
           "MEDCAM_DICOM_PORT": str(free_port()), "MEDCAM_API_TOKEN": "routing-token-8c2e5f1a",
           "MEDCAM_PACS_AET": orthanc.aet, "MEDCAM_PACS_PORT": str(orthanc.dicom_port),
           "MEDCAM_SERIES_QUIET_S": "2", "MEDCAM_ROUTES": "default"}
    service = ServiceProcess(env, tmp_path / "service.log").start()
    yield orthanc, service
    service.kill()
    orthanc.kill()


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
    run = subprocess.run(["storescu", "-aet", "MODALITY", "-aec", "MEDCAM", "127.0.0.1",
                          str(svc.dicom_port), *map(str, files)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    jobs = {j["series_instance_uid"]: j for j in _jobs(svc, 3)}
    dx_series = pydicom.dcmread(files[-2], stop_before_pixels=True).SeriesInstanceUID
    assert set(jobs) == {series_uid("route-ct"), series_uid("route-scout"), dx_series}
    assert {j["state"] for j in jobs.values()} == {"succeeded"}  # nothing failed
    decisions = {uid: (j["results"][0]["rule"], j["results"][0]["model"],
                       j["results"][0]["skipped"]) for uid, j in jobs.items()}
    assert decisions == {series_uid("route-ct"): ("ct-volumes", "demo-ct3d", None),
                         series_uid("route-scout"): ("localizers", None, "localizer"),
                         dx_series: ("radiographs", "demo-dx2d", None)}
    ct, dx, scout = jobs[series_uid("route-ct")], jobs[dx_series], jobs[series_uid("route-scout")]
    assert {"sc", "pm", "sr", "ko"} <= set(ct["objects"])
    assert set(dx["objects"]) == {"sc", "ko"}  # a projection: no PM, SEG or SR
    assert scout["push"] == [] and scout["output_sop_instance_uids"] == []
    stored = set(orthanc.sop_instance_uids())
    assert stored == set(ct["output_sop_instance_uids"]) | set(dx["output_sop_instance_uids"])
    assert all(p["state"] == "stored" for j in (ct, dx) for p in j["push"])


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
