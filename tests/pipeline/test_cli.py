"""The `medcam` command: outputs on success; on bad input one error line, nothing written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from medcam.geometry import Geometry
from medcam.synthetic.dicom import write_series

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_dicoms"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "medcam", *args], capture_output=True,
                          text=True, timeout=600, check=False)


def assert_clean_error(proc: subprocess.CompletedProcess[str], out: Path) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}*")), "staging left behind"


def small_ct(folder: Path, **kwargs) -> list[Path]:
    geometry = Geometry((12, 32, 32), (4.0, 3.0, 3.0), (-48.0, -48.0, -22.0),
                        (0, 0, 1, 0, 1, 0, 1, 0, 0))
    volume = np.random.default_rng(0).normal(0, 50, geometry.shape).astype(np.float32)
    return write_series(volume, geometry, folder, uid_seed="cli-small", **kwargs)


def test_explain_samples_end_to_end(tmp_path):
    out = tmp_path / "out"
    proc = run_cli("explain", str(SAMPLES / "ct"), "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "demo-ct3d"
    assert summary["method"] == "gradcam"
    entries = {e["series_instance_uid"]: e for e in summary["series"]}
    assert len(entries) == 2
    for entry in entries.values():
        assert entry["error"] is None
        assert set(entry["probabilities"]) == {"no_lesion", "lesion"}
        assert abs(sum(entry["probabilities"].values()) - 1) < 1e-5
        kinds = [o["kind"] for o in entry["outputs"]]
        assert kinds.count("sc") == 64 and kinds.count("pm") == kinds.count("sr") == 1
        assert kinds.count("ko") == 1 and kinds.count("seg") <= 1
        assert len(entry["files"]) == len(kinds)
        for rel in entry["files"]:
            assert (out / rel).is_file()
        assert set(entry["timings"]) >= {"read", "prepare", "cam", "map_back", "export"}
        ds = pydicom.dcmread(out / entry["files"][0])
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
        assert ds.StudyInstanceUID == entry["study_instance_uid"]
        assert ds.SeriesInstanceUID == entry["output_series_instance_uid"]
    assert (out / "preview.png").stat().st_size > 1000
    # nothing but the published layout
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == ["preview.png", "summary.json"]


def test_rerun_gives_identical_uids_and_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert run_cli("explain", str(SAMPLES / "ct" / "nodule"), "--out", str(out),
                       "--quiet").returncode == 0
    files_a = sorted(p.relative_to(a) for p in a.rglob("*.dcm"))
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*.dcm"))
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes()


def test_missing_path(tmp_path):
    out = tmp_path / "out"
    assert_clean_error(run_cli("explain", str(tmp_path / "nope"), "--out", str(out)), out)


def test_not_dicom(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("hello")
    out = tmp_path / "out"
    assert_clean_error(run_cli("explain", str(tmp_path / "in"), "--out", str(out)), out)


def test_no_image_series(tmp_path):
    src = Path(pydicom.__file__).parent / "data" / "test_files" / "rtplan.dcm"
    (tmp_path / "in").mkdir()
    shutil.copy(src, tmp_path / "in" / "plan.dcm")
    out = tmp_path / "out"
    assert_clean_error(run_cli("explain", str(tmp_path / "in"), "--out", str(out)), out)


def test_inconsistent_geometry(tmp_path):
    paths = small_ct(tmp_path / "in")
    ds = pydicom.dcmread(paths[3])
    ds.ImagePositionPatient = pydicom.dcmread(paths[4]).ImagePositionPatient
    ds.save_as(paths[3])
    out = tmp_path / "out"
    proc = run_cli("explain", str(tmp_path / "in"), "--out", str(out))
    assert_clean_error(proc, out)
    assert "duplicate_position" in proc.stderr


def test_unreadable_pixels(tmp_path):
    paths = small_ct(tmp_path / "in")
    data = paths[5].read_bytes()
    paths[5].write_bytes(data[: len(data) - 700])
    out = tmp_path / "out"
    assert_clean_error(run_cli("explain", str(tmp_path / "in"), "--out", str(out)), out)


@pytest.mark.parametrize("flag", [("--model", "no-such-model"), ("--method", "no-such-cam")])
def test_unknown_model_or_method(tmp_path, flag):
    out = tmp_path / "out"
    assert_clean_error(run_cli("explain", str(SAMPLES / "ct"), "--out", str(out), *flag), out)


def test_usage_error_is_one_line(tmp_path):
    proc = run_cli("explain", str(SAMPLES / "ct"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ")


def test_models_and_methods_listings():
    models = run_cli("models")
    assert models.returncode == 0
    assert "demo-ct3d" in models.stdout
    assert "demo-dx2d" in models.stdout
    methods = run_cli("methods")
    assert methods.returncode == 0
    names = [line.split()[0] for line in methods.stdout.splitlines()]
    from medcam import cam

    assert names == cam.available()
    for line in methods.stdout.splitlines():
        assert line.split()[1] in {"gradient", "perturbation", "gradient-free"}
