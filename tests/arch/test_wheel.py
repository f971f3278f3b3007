"""The built wheel alone runs ``medcam batch --push``: no checkout, no ``service``.

The wheel is built from a copy of the packaging inputs (``medcam/``, pyproject.toml,
README.md), installed with ``pip install --no-deps --target``, and run with only that
folder on PYTHONPATH, from a working directory outside the checkout; the third-party
dependencies come from the test interpreter's environment. The outputs go to a real
Orthanc over C-STORE. So the wheel holds everything the command needs (the demo
models' weights and specs, the coding tables) and ``medcam`` never imports ``service``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from medcam.batch import read_manifest
from tests.service.orthanc import Orthanc

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_dicoms" / "ct" / "nodule"


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False,
                          cwd=cwd, env=env)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A folder holding the installed wheel (and nothing else of the checkout)."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(ROOT / "medcam", src / "medcam",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    dist = base / "dist"
    proc = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "-q", "-w", str(dist), str(src)], cwd=base)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = dist.glob("medcam_dicom-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith(("service/", "tests/", "bench/"))]
    assert any(n.startswith("medcam/model/weights/") and n.endswith(".pt") for n in names)
    assert any(n.startswith("medcam/model/specs/") and n.endswith(".json") for n in names)
    assert "medcam/py.typed" in names
    target = base / "site"
    proc = _run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                 str(target), str(wheel)], cwd=base)
    assert proc.returncode == 0, proc.stderr
    return target


def _env(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}


def test_the_installed_package_is_the_wheel_and_has_no_service(installed, tmp_path):
    code = ("import importlib.util, medcam, medcam.pacs, medcam.batch.push; "
            "print(medcam.__file__); print(importlib.util.find_spec('service'))")
    proc = _run([sys.executable, "-c", code], cwd=tmp_path, env=_env(installed))
    assert proc.returncode == 0, proc.stderr
    where, service = proc.stdout.split()
    assert Path(where).is_relative_to(installed)
    assert service == "None"


def test_batch_push_from_the_installed_wheel(installed, tmp_path):
    work = tmp_path / "elsewhere"
    shutil.copytree(SAMPLE, work / "in" / "nodule")
    dest = Orthanc(tmp_path / "orthanc", aet="DEST")
    dest.start()
    try:
        push = f"dicom://{dest.aet}@127.0.0.1:{dest.dicom_port}"
        proc = _run([sys.executable, "-m", "medcam", "batch", "in", "--out", "out",
                     "--push", push, "--quiet"], cwd=work, env=_env(installed))
        assert proc.returncode == 0, proc.stderr
        (entry,) = read_manifest(work / "out" / "manifest.jsonl")
        assert entry["status"] == "done"
        kinds = sorted({o["kind"] for o in entry["outputs"]})
        assert kinds == ["ko", "pm", "sc", "seg", "sr"]
        n = len(entry["outputs"])
        assert entry["push"]["state"] == "stored"
        assert (entry["push"]["stored"], entry["push"]["failed"]) == (n, 0)
        stored = set(dest.sop_instance_uids())
        assert stored == {o["sop_instance_uid"] for o in entry["outputs"]}
    finally:
        dest.stop()
    assert "Traceback" not in proc.stderr
    assert json.loads((work / "out" / "runs.jsonl").read_text().splitlines()[-1])
