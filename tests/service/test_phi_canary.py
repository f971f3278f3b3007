"""PHI canary (B-32): patient values never reach logs, error bodies, job errors or metrics.

A canary study (PatientName ``CANARY^PHI^7F3A``, PatientID ``PHI-7F3A``, invalid
birth date ``19701345``, AccessionNumber ``ACC7F3A``) goes through the success path
and through every failure path: bad geometry, non-DICOM upload, invalid UID over
DIMSE, validation errors, missing or wrong token, unknown job, PACS down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from tests.service.dicomgen import CANARY, CANARY_STRINGS, write_ct
from tests.service.orthanc import Orthanc
from tests.service.process import ServiceProcess


def _leaks(text: str) -> list[str]:
    return [c for c in CANARY_STRINGS if c in text]


def _dimse_invalid_uid(svc: ServiceProcess, path: Path) -> int:
    ds = dcmread(path)
    ds.SOPInstanceUID = "CANARY^PHI^7F3A"
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", svc.dicom_port, ae_title="MEDCAM")
    assert assoc.is_established
    status = int(assoc.send_c_store(ds).Status)
    assoc.release()
    return status


def test_phi_canary_on_success_and_failure_paths(
        orthanc: Orthanc, service_factory: Callable[..., ServiceProcess],
        tmp_path: Path) -> None:
    svc = service_factory(orthanc, MEDCAM_PUSH_MAX_ATTEMPTS="3").start()
    bodies: list[str] = []

    ok = svc.upload(write_ct(tmp_path / "ok", "canary-ok", canary=True))
    assert ok.status_code == 202, ok.text
    good = svc.wait_job(ok.json()["jobs"][0]["job_id"])
    assert good["state"] == "succeeded", good

    same_position = {"ImagePositionPatient": ["0", "0", "0"]}
    bad = svc.upload(write_ct(tmp_path / "bad", "canary-bad", canary=True, extra=same_position))
    failed_geometry = svc.wait_job(bad.json()["jobs"][0]["job_id"])
    assert failed_geometry["state"] == "failed"

    junk = ("file", ("CANARY^PHI^7F3A.dcm", b"PatientName=CANARY^PHI^7F3A", "a/b"))
    for r in (
        httpx.post(f"{svc.url}/v1/studies", files=[junk], headers=svc.headers),
        httpx.post(f"{svc.url}/v1/jobs", headers=svc.headers,
                   json={"study_instance_uid": CANARY["PatientName"], "model": "PHI-7F3A"}),
        httpx.get(f"{svc.url}/v1/jobs?state=ACC7F3A", headers=svc.headers),
        httpx.get(f"{svc.url}/v1/jobs/PHI-7F3A", headers=svc.headers),
        httpx.get(f"{svc.url}/v1/jobs", headers={"Authorization": "Bearer CANARY^PHI^7F3A"}),
        httpx.get(f"{svc.url}/metrics?patient=19701345"),
    ):
        assert r.status_code in (400, 401, 404, 422), r.status_code
        bodies.append(r.text)

    files = write_ct(tmp_path / "dimse", "canary-dimse", slices=2, canary=True)
    assert _dimse_invalid_uid(svc, files[0]) == 0xC000

    orthanc.kill()  # PACS down: the push fails for good after 3 attempts
    down = svc.upload(write_ct(tmp_path / "down", "canary-down", canary=True))
    pacs_down = svc.wait_job(down.json()["jobs"][0]["job_id"])
    assert pacs_down["state"] == "failed", pacs_down
    ready = svc.get("/readyz")
    assert ready.status_code == 503
    bodies.append(ready.text)

    jobs = [svc.job(j["job_id"]) for j in svc.get("/v1/jobs").json()]
    metrics = svc.get("/metrics").text
    time.sleep(0.5)
    log = svc.log_text()
    assert "Invalid value for VR DA" not in log or "19701345" not in log
    assert _leaks(log) == [], "PHI in the service log"
    assert _leaks("\n".join(bodies)) == [], "PHI in an error body"
    assert _leaks(str(jobs)) == [], "PHI in a job view"
    assert _leaks(metrics) == [], "PHI in the metrics"
    assert {j["state"] for j in jobs} == {"succeeded", "failed"}
    assert all(j["error"] for j in jobs if j["state"] == "failed")
