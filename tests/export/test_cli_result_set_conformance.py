"""dciodvfy on what ``medcam explain`` itself writes, for the sample CT and radiograph.

The CLI runs with its defaults (every output kind): for the 64-slice nodule CT every
PM, SEG, SR and KOS and the first, middle and last Secondary Capture must give no
dciodvfy Error and only warnings of the allow-lists (``dciodvfy_resultset_allowlist.txt``
for the result-set objects, ``dciodvfy_allowlist.txt`` for the SC). A radiograph has
no patient geometry: the run must still exit 0, write the SC and the KOS, and say in
``summary.json`` and on stdout that PM, SEG and SR were not written.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_dicoms"
HERE = Path(__file__).parent
ALLOWLISTS = {"sc": HERE / "dciodvfy_allowlist.txt",
              "result": HERE / "dciodvfy_resultset_allowlist.txt"}
IODS = {"PM": "ParametricMap", "SEG": "Segmentation", "SR": "Comprehensive3DSR",
        "KO": "KeyObjectSelectionDocument", "IM": "SCImage"}
SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"
KO_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"


def _allowlist(path: Path) -> list[re.Pattern[str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            out.append(re.compile(line.partition("  # ")[0]))
    return out


def _explain(src: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "medcam", "explain", str(src), "--out",
                           str(out), *args], capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def ct_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli-ct") / "out"
    _explain(SAMPLES / "ct" / "nodule", out, "--quiet")
    return out


@pytest.fixture(scope="module")
def dx_run(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("cli-dx") / "out"
    return out, _explain(SAMPLES / "dx", out, "--model", "demo-dx2d").stdout


def _files(out: Path) -> list[Path]:
    (entry,) = json.loads((out / "summary.json").read_text())["series"]
    assert entry["error"] is None
    return [out / f for f in entry["files"]]


def _kind(path: Path) -> str:
    """The file-name prefix: IM (SC), PM, SEG, SR or KO."""
    return path.stem.rstrip("0123456789")


def _check(path: Path) -> None:
    tool = shutil.which("dciodvfy")
    assert tool is not None, "dciodvfy is required (Debian dicom3tools)"
    proc = subprocess.run([tool, str(path)], capture_output=True, text=True, errors="replace",
                          timeout=60, check=False)
    lines = [line.rstrip() for line in (proc.stdout + proc.stderr).splitlines()]
    kind = _kind(path)
    allowed = _allowlist(ALLOWLISTS["sc" if kind == "IM" else "result"])
    assert not [line for line in lines if line.startswith("Error")], (path.name, lines)
    unexpected = [line for line in lines if line.startswith("Warning")
                  and not any(r.fullmatch(line) for r in allowed)]
    assert not unexpected, (path.name, unexpected)
    assert {line for line in lines if not line.startswith(("Error", "Warning"))} == \
        {IODS[kind]}, (path.name, lines)


def test_ct_run_writes_every_kind_and_each_passes_dciodvfy(ct_run):
    files = _files(ct_run)
    by_kind: dict[str, list[Path]] = {}
    for f in files:
        by_kind.setdefault(_kind(f), []).append(f)
    assert sorted(by_kind) == ["IM", "KO", "PM", "SEG", "SR"], sorted(by_kind)
    sc = sorted(by_kind["IM"])
    assert len(sc) == 64
    for path in [sc[0], sc[len(sc) // 2], sc[-1], *by_kind["PM"], *by_kind["SEG"],
                 *by_kind["SR"], *by_kind["KO"]]:
        _check(path)


def test_radiograph_run_skips_geometry_bound_kinds_with_a_note(dx_run):
    out, stdout = dx_run
    (entry,) = json.loads((out / "summary.json").read_text())["series"]
    assert [o["kind"] for o in entry["outputs"]] == ["sc", "ko"]
    assert [o["sop_class_uid"] for o in entry["outputs"]] == [SC_CLASS, KO_CLASS]
    (note,) = entry["notes"]
    assert note.startswith("pm,seg,sr: not written") and "projection" in note
    assert f"note: {note}" in stdout
    assert not [p for p in (out / Path(entry["files"][0]).parent).iterdir()
                if p.name.startswith(("PM", "SEG", "SR"))]


def test_radiograph_outputs_pass_dciodvfy(dx_run):
    out, _ = dx_run
    files = _files(out)
    assert [f.name for f in files] == ["IM000001.dcm", "KO000001.dcm"]
    for path in files:
        _check(path)
    ko = pydicom.dcmread(files[1])
    sc_source = pydicom.dcmread(next((SAMPLES / "dx").rglob("*.dcm")))
    refs = [r.ReferencedSOPInstanceUID
            for item in ko.CurrentRequestedProcedureEvidenceSequence
            for s in item.ReferencedSeriesSequence for r in s.ReferencedSOPSequence]
    assert refs == [sc_source.SOPInstanceUID]


def test_radiograph_with_only_geometry_bound_kinds_is_one_line_error(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "medcam", "explain", str(SAMPLES / "dx"),
                           "--out", str(out), "--model", "demo-dx2d", "--outputs", "pm,sr"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "geometry" in lines[0]
    assert not out.exists()


def test_sr_without_pm_is_one_line_error(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "medcam", "explain",
                           str(SAMPLES / "ct" / "nodule"), "--out", str(out),
                           "--outputs", "sc,sr"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "need pm" in lines[0]
    assert not out.exists()
