"""HTTP API: auth on every route but /healthz (B-33), uploads and limits (B-5, B-27)."""

from __future__ import annotations

import errno
import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from tests.service.conftest import AUTH, TOKEN
from tests.service.dicomgen import CANARY_STRINGS, series_uid, write_ct

ROUTES = [("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/v1/jobs"),
          ("GET", "/v1/jobs/" + "0" * 32), ("POST", "/v1/jobs"), ("POST", "/v1/studies")]


@pytest.fixture
def client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    app = create_app(make_settings(max_instances=20, max_upload_bytes=2_000_000),
                     start_background=False)
    with TestClient(app) as c:
        yield c


def _parts(files: list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("file", (f.name, f.read_bytes(), "application/dicom")) for f in files]


def test_healthz_needs_no_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0000000000", f"Basic {TOKEN}",
                                    f"Bearer {TOKEN}x", "Bearer "])
def test_every_other_route_needs_the_token(client: TestClient, method: str, path: str,
                                           header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    r = client.request(method, path, headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_upload_queues_one_job_per_series(client: TestClient, tmp_path: Path) -> None:
    a = write_ct(tmp_path / "a", "api-a", slices=3, size=16)
    b = write_ct(tmp_path / "b", "api-b", slices=2, size=16)
    r = client.post("/v1/studies", files=_parts(a + b), headers=AUTH)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["n_instances"] == 5
    by_series = {j["series_instance_uid"]: j["job_id"] for j in body["jobs"]}
    assert set(by_series) == {series_uid("api-a"), series_uid("api-b")}
    runtime = client.app.state.runtime
    inputs = runtime.spool.input_dir(by_series[series_uid("api-a")])
    assert sorted(p.name for p in inputs.iterdir()) == sorted(
        f"{hashlib.sha256(f.read_bytes()).hexdigest()}.dcm" for f in a)
    job = client.get(f"/v1/jobs/{by_series[series_uid('api-a')]}", headers=AUTH).json()
    assert (job["state"], job["n_inputs"], job["source"]) == ("queued", 3, "upload")
    listed = client.get("/v1/jobs?state=queued", headers=AUTH).json()
    assert len(listed) == 2


def test_concurrent_identical_uploads_make_one_job(client: TestClient, tmp_path: Path) -> None:
    files = write_ct(tmp_path / "a", "same-study", slices=4, size=16)

    def upload(_: int) -> str:
        r = client.post("/v1/studies", files=_parts(files), headers=AUTH)
        assert r.status_code == 202
        return str(r.json()["jobs"][0]["job_id"])

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(upload, range(16)))
    assert len(ids) == 1
    runtime = client.app.state.runtime
    assert len(list(runtime.spool.jobs_dir.iterdir())) == 1
    assert list(runtime.spool.tmp_dir.iterdir()) == []


def test_too_many_instances_is_413(client: TestClient, tmp_path: Path) -> None:
    files = write_ct(tmp_path / "a", "many", slices=21, size=8)
    r = client.post("/v1/studies", files=_parts(files), headers=AUTH)
    assert r.status_code == 413
    runtime = client.app.state.runtime
    assert list(runtime.spool.tmp_dir.iterdir()) == []
    assert list(runtime.spool.jobs_dir.iterdir()) == []


def test_too_many_bytes_is_413(client: TestClient, tmp_path: Path) -> None:
    files = write_ct(tmp_path / "a", "big", slices=2, size=16)
    big = ("file", ("x", b"\x00" * 2_100_000, "a/b"))
    r = client.post("/v1/studies", files=[big, *_parts(files)], headers=AUTH)
    assert r.status_code == 413


def test_non_dicom_part_is_400_and_leaves_nothing(client: TestClient, tmp_path: Path) -> None:
    files = write_ct(tmp_path / "a", "mixed", slices=2, size=16)
    r = client.post("/v1/studies", files=[*_parts(files), ("file", ("x", b"MZ\0\0", "a/b"))],
                    headers=AUTH)
    assert r.status_code == 400
    assert "part 3" in r.json()["detail"]
    runtime = client.app.state.runtime
    assert list(runtime.spool.tmp_dir.iterdir()) == []
    assert list(runtime.spool.jobs_dir.iterdir()) == []


def test_not_multipart_is_415(client: TestClient) -> None:
    r = client.post("/v1/studies", content=b"{}", headers={**AUTH,
                                                           "Content-Type": "application/json"})
    assert r.status_code == 415


def test_validation_errors_do_not_echo_input(client: TestClient) -> None:
    r = client.post("/v1/jobs", json={"study_instance_uid": "CANARY^PHI^7F3A",
                                      "model": "../../etc/passwd"}, headers=AUTH)
    assert r.status_code == 422
    assert not any(c in r.text for c in CANARY_STRINGS)
    assert "passwd" not in r.text


def test_job_by_uid_needs_a_dicomweb_pacs(client: TestClient) -> None:
    r = client.post("/v1/jobs", json={"study_instance_uid": "1.2.3"}, headers=AUTH)
    assert r.status_code == 503


def test_job_by_uid_is_queued(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(pacs_dicomweb="http://127.0.0.1:1/dicom-web"),
                     start_background=False)
    with TestClient(app) as c:
        r = c.post("/v1/jobs", json={"study_instance_uid": "1.2.3", "series_instance_uid":
                                     "1.2.3.4", "method": "gradcampp"}, headers=AUTH)
        assert r.status_code == 202
        job = c.get(f"/v1/jobs/{r.json()['job_id']}", headers=AUTH).json()
    assert (job["stage"], job["method"], job["source"]) == ("fetch", "gradcampp", "pacs")


def test_unknown_job_is_404(client: TestClient) -> None:
    assert client.get("/v1/jobs/" + "f" * 32, headers=AUTH).status_code == 404
    assert client.get("/v1/jobs/../../etc", headers=AUTH).status_code == 404


def test_readyz_reports_each_check(client: TestClient) -> None:
    r = client.get("/readyz", headers=AUTH)
    assert r.status_code == 503
    assert r.json() == {"ready": False, "database": True, "spool": True, "pacs": False,
                        "background": False}


def test_metrics_text_format(client: TestClient) -> None:
    r = client.get("/metrics", headers=AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'medcam_jobs{state="queued"} 0' in r.text
    assert "medcam_push_failures_total 0" in r.text
    assert "# TYPE medcam_job_duration_seconds histogram" in r.text


def test_disk_full_is_507_and_leaves_no_file(client: TestClient, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from service.spool import SpoolWriter

    def full(_self: SpoolWriter, _data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(SpoolWriter, "write", full)
    r = client.post("/v1/studies", files=_parts(write_ct(tmp_path / "a", "full", slices=2,
                                                         size=16)), headers=AUTH)
    assert r.status_code == 507
    runtime = client.app.state.runtime
    assert [p for p in runtime.spool.data_dir.rglob("*") if p.is_file()
            and p.suffix in (".dcm", ".part")] == []
