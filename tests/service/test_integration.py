"""Real pipeline, real Orthanc, real service process: every intake path ends on the PACS.

* a series sent by C-STORE (dcmtk ``storescu``) to the listener;
* a study routed by Orthanc itself to the listener (its DicomModalities entry);
* a series uploaded with ``POST /v1/studies``;
* a study queued by UID with ``POST /v1/jobs`` (WADO-RS in, STOW-RS out);

each appears on Orthanc as the whole result set (Secondary Capture, Parametric Map,
[SEG,] SR and KOS series) in the source study, every object once.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.conftest import TEST_MODEL
from tests.service.dicomgen import series_uid, study_uid, write_ct
from tests.service.orthanc import Orthanc, free_port
from tests.service.process import ServiceProcess

SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"


@dataclass
class Stack:
    orthanc: Orthanc
    service: ServiceProcess


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("stack")
    dicom_port = free_port()
    orthanc = Orthanc(root / "orthanc",
                      modalities={"medcam": ["MEDCAM", "127.0.0.1", dicom_port]})
    orthanc.start()
    env = {"MEDCAM_DATA_DIR": str(root / "data"), "MEDCAM_HTTP_PORT": str(free_port()),
           "MEDCAM_DICOM_PORT": str(dicom_port), "MEDCAM_API_TOKEN": "integration-token-4d1f9b",
           "MEDCAM_PACS_AET": orthanc.aet, "MEDCAM_PACS_PORT": str(orthanc.dicom_port),
           "MEDCAM_PACS_DICOMWEB": orthanc.dicomweb, "MEDCAM_SERIES_QUIET_S": "2",
           "MEDCAM_PUSH_BACKOFF_S": "0.2", "MEDCAM_PUSH_BACKOFF_MAX_S": "1",
           "MEDCAM_DIMSE_TIMEOUT_S": "5", "MEDCAM_CONNECTION_TIMEOUT_S": "2",
           "MEDCAM_MODEL": TEST_MODEL}
    service = ServiceProcess(env, root / "service.log").start()
    try:
        yield Stack(orthanc, service)
    finally:
        service.kill()
        orthanc.kill()


def wait_for_job(svc: ServiceProcess, series: str, timeout_s: float = 120) -> dict[str, Any]:
    """The finished job of a source series (jobs queued by DIMSE have no id for the client)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for job in svc.get("/v1/jobs").json():
            if job["series_instance_uid"] == series and job["state"] in ("succeeded", "failed"):
                return svc.job(job["job_id"])
        time.sleep(0.2)
    raise AssertionError(f"no finished job for series {series}: {svc.log_text()[-3000:]}")


#: The SOP Class of each kind of result object.
SOP_CLASS_OF = {"sc": SC_CLASS, "pm": "1.2.840.10008.5.1.4.1.1.30",
                "seg": "1.2.840.10008.5.1.4.1.1.66.4", "sr": "1.2.840.10008.5.1.4.1.1.88.34",
                "ko": "1.2.840.10008.5.1.4.1.1.88.59"}


def assert_result_set_on_orthanc(orthanc: Orthanc, job: dict[str, Any], n_slices: int,
                                 source_series: str) -> None:
    """Every object of the job's result set is on Orthanc, in the source study, once."""
    assert job["state"] == "succeeded", job
    assert job["outputs"] == "sc,pm,seg,sr,ko"
    study = job["study_instance_uid"]
    out_series = job["results"][0]["output_series_instance_uid"]
    found = {s["MainDicomTags"]["SeriesInstanceUID"]: s for s in orthanc.series_of_study(study)}
    assert out_series in found, f"output series not in study {study} on Orthanc"
    kinds = {p["kind"] for p in job["push"]}
    assert {"sc", "pm", "sr", "ko"} <= kinds <= set(SOP_CLASS_OF)
    # one series per kind (beside the source where the PACS holds it), nothing else
    assert len(set(found) - {source_series}) == len(kinds)
    on_orthanc: dict[str, str] = {}
    for uid, series in found.items():
        if uid == source_series:
            continue
        for instance in orthanc.get(f"/series/{series['ID']}/instances"):
            tags = orthanc.get(f"/instances/{instance['ID']}/simplified-tags")
            assert tags["StudyInstanceUID"] == study
            on_orthanc[tags["SOPInstanceUID"]] = tags["SOPClassUID"]
    assert sorted(on_orthanc) == sorted(job["output_sop_instance_uids"])
    for p in job["push"]:
        assert on_orthanc[p["sop_instance_uid"]] == SOP_CLASS_OF[p["kind"]] == p["sop_class_uid"]
    sc = orthanc.get(f"/series/{found[out_series]['ID']}/instances")
    assert len(sc) == n_slices == job["objects"]["sc"]["stored"]
    assert job["results"][0]["objects"] == {k: sum(v.values()) for k, v in job["objects"].items()}
    assert {p["state"] for p in job["push"]} == {"stored"}
    assert job["probabilities"]


def test_storescu_series_ends_on_orthanc(stack: Stack, tmp_path: Path) -> None:
    files = write_ct(tmp_path / "ct", "int-storescu", slices=8)
    run = subprocess.run(["storescu", "-aet", "MODALITY", "-aec", "MEDCAM", "127.0.0.1",
                          str(stack.service.dicom_port), *map(str, files)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    job = wait_for_job(stack.service, series_uid("int-storescu"))
    assert (job["source"], job["n_inputs"]) == ("dimse", 8)
    assert_result_set_on_orthanc(stack.orthanc, job, 8, job["series_instance_uid"])


def test_orthanc_routes_a_study_to_the_listener(stack: Stack, tmp_path: Path) -> None:
    files = write_ct(tmp_path / "ct", "int-routed", slices=8)
    stack.orthanc.upload(files)
    r = httpx.post(f"{stack.orthanc.url}/modalities/medcam/echo", content="{}", timeout=30)
    assert r.status_code == 200
    found = httpx.post(f"{stack.orthanc.url}/tools/lookup", content=study_uid("int-routed"),
                       timeout=30).json()
    r = httpx.post(f"{stack.orthanc.url}/modalities/medcam/store", timeout=60,
                   json={"Resources": [found[0]["ID"]], "Synchronous": True})
    assert r.status_code == 200, r.text
    job = wait_for_job(stack.service, series_uid("int-routed"))
    assert_result_set_on_orthanc(stack.orthanc, job, 8, series_uid("int-routed"))


def test_upload_ends_on_orthanc(stack: Stack, tmp_path: Path) -> None:
    files = write_ct(tmp_path / "ct", "int-upload", slices=8)
    r = stack.service.upload(files)
    assert r.status_code == 202, r.text
    job = stack.service.wait_job(r.json()["jobs"][0]["job_id"])
    assert_result_set_on_orthanc(stack.orthanc, job, 8, job["series_instance_uid"])
    assert job["model"]
    assert job["method"]


def test_routes_need_the_token_on_the_running_service(stack: Stack) -> None:
    url = stack.service.url
    assert httpx.get(f"{url}/healthz").status_code == 200
    for method, path in [("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/v1/jobs"),
                         ("POST", "/v1/jobs"), ("POST", "/v1/studies")]:
        assert httpx.request(method, f"{url}{path}").status_code == 401
    ready = stack.service.get("/readyz")
    assert ready.status_code == 200, ready.text


@pytest.fixture
def dicomweb_service(stack: Stack,
                     service_factory: Callable[..., ServiceProcess]) -> ServiceProcess:
    return service_factory(stack.orthanc, MEDCAM_PUSH="dicomweb").start()


def test_job_by_study_uid_with_dicomweb_push(stack: Stack, dicomweb_service: ServiceProcess,
                                             tmp_path: Path) -> None:
    files = write_ct(tmp_path / "ct", "int-dicomweb", slices=8)
    stack.orthanc.upload(files)
    r = httpx.post(f"{dicomweb_service.url}/v1/jobs", headers=dicomweb_service.headers,
                   json={"study_instance_uid": study_uid("int-dicomweb")}, timeout=30)
    assert r.status_code == 202, r.text
    job = dicomweb_service.wait_job(r.json()["job_id"])
    assert (job["source"], job["n_inputs"]) == ("pacs", 8)
    assert_result_set_on_orthanc(stack.orthanc, job, 8, series_uid("int-dicomweb"))
    assert {p["detail"] for p in job["push"]} == {"STOW-RS stored"}


def test_unknown_study_uid_fails_cleanly(dicomweb_service: ServiceProcess) -> None:
    r = httpx.post(f"{dicomweb_service.url}/v1/jobs", headers=dicomweb_service.headers,
                   json={"study_instance_uid": "1.2.3.4.5.6.7.8.9"}, timeout=30)
    job = dicomweb_service.wait_job(r.json()["job_id"])
    assert job["state"] == "failed"
    assert job["error"].startswith("fetch failed")
