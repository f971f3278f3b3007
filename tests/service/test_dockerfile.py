"""The Dockerfile and the container rule (issue 12, finding 8), checked without Docker.

The image build needs a Docker daemon (absent in CI); these tests read the
Dockerfile (every extra installed, any uid can write ``/data``, the container flag
set) and run the service with that flag as the image would.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import Settings
from tests.service.process import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()


def _instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in DOCKERFILE.splitlines()
                                          if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in text.splitlines() if line.strip()]


def _env() -> dict[str, str]:
    env: dict[str, str] = {}
    for op, args in _instructions():
        if op == "ENV":
            env.update(dict(item.split("=", 1) for item in shlex.split(args)))
    return env


def test_every_extra_but_dev_is_installed() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    installs = [m.group(1) for op, args in _instructions() if op == "RUN"
                for m in re.finditer(r"pip install '\.\[([a-z,]+)\]'", args)]
    assert len(installs) == 1
    chosen = set(installs[0].split(","))
    covered = set(chosen)
    for name in chosen:  # an extra pulled in by another (medcam-dicom[pacs])
        for req in extras[name]:
            covered.update(re.findall(r"^medcam-dicom\[([a-z,]+)\]", req)[0].split(",")
                           if req.startswith("medcam-dicom[") else [])
    assert covered == set(extras) - {"dev"}


def test_any_uid_can_write_data_and_the_service_keeps_to_itself() -> None:
    runs = " ".join(args for op, args in _instructions() if op == "RUN")
    assert "install -d -m 1777 /data" in runs  # like /tmp: any uid writes, owners delete
    env = _env()
    assert env["MEDCAM_IN_CONTAINER"] == "1"
    assert env["MEDCAM_DATA_DIR"].startswith("/data/")
    assert env["HOME"] == "/tmp" and env["MPLCONFIGDIR"].startswith("/tmp/")
    assert env["PYTHONPATH"] == "/opt/medcam"  # `python -m service` from WORKDIR /data
    ops = dict(_instructions())
    assert ops["VOLUME"] == '["/data"]'
    assert re.fullmatch(r"\d+:\d+", ops["USER"])  # numeric: --user overrides cleanly
    assert [a for o, a in _instructions() if o == "WORKDIR"][-1] == "/data"


def test_readme_documents_the_run_line() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Docker"):]
    section = section[:section.index("\n## ")]
    for needed in ('--user "$(id -u):$(id -g)"', '-v "$PWD/data:/data"', ".[service,audit,batch]",
                   "MEDCAM_PACS_HOST", "MEDCAM_IN_CONTAINER"):
        assert needed in section, needed
    assert '--user "$(id -u):$(id -g)"' in DOCKERFILE and '-v "$PWD/data:/data"' in DOCKERFILE


@pytest.mark.parametrize("values", [
    {"pacs_host": "127.0.0.1"}, {"pacs_host": "localhost"}, {"pacs_host": "::1"},
    {"push": "dicomweb", "pacs_host": "pacs.example.org",
     "pacs_dicomweb": "http://127.0.0.1:8042/dicom-web"}])
def test_container_refuses_a_loopback_pacs(values: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="in a container the PACS cannot be on loopback"):
        Settings(in_container=True, **values)  # type: ignore[arg-type]
    Settings(in_container=False, **values)  # type: ignore[arg-type]


def test_container_accepts_a_remote_pacs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDCAM_IN_CONTAINER", "1")
    monkeypatch.setenv("MEDCAM_PACS_HOST", "10.20.30.40")
    assert Settings().in_container
    monkeypatch.setenv("MEDCAM_PACS_HOST", "127.0.0.1")
    with pytest.raises(ValidationError):
        Settings()


def test_service_in_a_container_exits_2_with_the_default_pacs_host(tmp_path: Path) -> None:
    env = {"MEDCAM_IN_CONTAINER": "1", "MEDCAM_DATA_DIR": str(tmp_path / "data"),
           "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "service"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "in a container the PACS cannot be on loopback" in proc.stderr + proc.stdout
    assert not (tmp_path / "data").exists()  # refused before anything was created
