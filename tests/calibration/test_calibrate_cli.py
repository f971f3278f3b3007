"""``medcam calibrate``: the JSON record, ``--write`` into a spec copy, one-line errors.

The data set is the audit layout (one folder per case) with ``labels.json``; cases
are tiny generated CTs (the model resamples them to its grid), so the scale itself
means little here: these tests check the command, not the calibration's quality
(``test_calibrated_separation.py`` does that). The committed demo specs are never
written: ``--write`` gets a copy whose weights path points at the shipped weights.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from medcam.geometry import Geometry
from medcam.model.load import BUILTIN_DIR
from medcam.model.spec import ModelSpec
from medcam.synthetic.dicom import write_series

SPEC = BUILTIN_DIR / "demo-ct3d.json"


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``medcam ARGS`` run in this process (the CLI's own ``main``, its streams captured).

    In-process, so the ten runs of this file import torch once; the subprocess path
    of the CLI is covered by tests/pipeline/test_cli.py.
    """
    from medcam.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return subprocess.CompletedProcess(["medcam", *map(str, args)], code, out.getvalue(),
                                       err.getvalue())


def assert_one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout == ""
    return lines[0]


def _case(folder: Path, seed: int, blob: bool) -> None:
    geometry = Geometry((12, 32, 32), (4.0, 3.0, 3.0), (-48.0, -48.0, -22.0),
                        (0, 0, 1, 0, 1, 0, 1, 0, 0))
    volume = np.random.default_rng(seed).normal(-700, 60, geometry.shape).astype(np.float32)
    if blob:
        volume[5:8, 12:20, 12:20] = 40.0
    write_series(volume, geometry, folder, uid_seed=f"calibrate-cli-{seed}")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("calibration-set")
    labels = {}
    for i, positive in enumerate((True, True, False)):
        _case(root / f"case{i}", i, positive)
        labels[f"case{i}"] = "lesion" if positive else "no_lesion"
    (root / "labels.json").write_text(json.dumps(labels))
    return root


@pytest.fixture
def spec_copy(tmp_path) -> Path:
    data = json.loads(SPEC.read_text(encoding="utf-8"))
    data["weights"] = str((SPEC.parent / data["weights"]).resolve())
    path = tmp_path / "my-ct3d.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def test_calibrate_prints_the_record_and_writes_a_spec_copy(dataset, spec_copy):
    committed = SPEC.read_bytes()
    before = json.loads(spec_copy.read_text())
    proc = run_cli("calibrate", dataset, "--model", spec_copy, "--method", "layercam",
                   "--write")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["model"] == "demo-ct3d" and record["method"] == "layercam"
    assert record["target"] == "lesion" and record["statistic"] == "peak"
    assert (record["n_positive"], record["n_negative"], record["n_failed"]) == (2, 1, 0)
    assert record["value"] > 0 and record["written"] == spec_copy.name
    assert 0.0 <= record["separation"]["auc"] <= 1.0
    after = json.loads(spec_copy.read_text())
    assert after["cam_scale"] == {**before["cam_scale"], "layercam": record["value"]}
    assert after["calibration"]["layercam"]["value"] == record["value"]
    assert after["calibration"]["gradcam"] == before["calibration"]["gradcam"]
    assert {k: v for k, v in after.items() if k not in ("cam_scale", "calibration")} == \
        {k: v for k, v in before.items() if k not in ("cam_scale", "calibration")}
    spec = ModelSpec.from_file(spec_copy)
    assert spec.cam_scale["layercam"] == record["value"]
    assert SPEC.read_bytes() == committed, "the committed spec must not change"


def test_calibrate_without_write_leaves_the_spec(dataset, spec_copy):
    text = spec_copy.read_text()
    proc = run_cli("calibrate", dataset, "--model", spec_copy, "--percentile", "50",
                   "--statistic", "voxels")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["percentile"] == 50.0 and record["statistic"] == "voxels"
    assert "written" not in record
    assert spec_copy.read_text() == text


def test_unknown_method_is_one_line(dataset, spec_copy):
    text = spec_copy.read_text()
    line = assert_one_line_error(run_cli("calibrate", dataset, "--model", spec_copy,
                                         "--method", "no-such-cam", "--write"))
    assert "no-such-cam" in line
    assert spec_copy.read_text() == text


def test_empty_dataset_is_one_line(tmp_path, spec_copy):
    (tmp_path / "empty").mkdir()
    line = assert_one_line_error(run_cli("calibrate", tmp_path / "empty", "--model",
                                         spec_copy))
    assert "no case subfolders" in line


def test_dataset_without_positive_case_is_one_line(tmp_path, spec_copy):
    _case(tmp_path / "set" / "only", 9, blob=False)
    (tmp_path / "set" / "labels.json").write_text(json.dumps({"only": "no_lesion"}))
    line = assert_one_line_error(run_cli("calibrate", tmp_path / "set", "--model",
                                         spec_copy))
    assert "positive case" in line


@pytest.mark.parametrize("args", [("--percentile", "0"), ("--percentile", "101"),
                                  ("--statistic", "mean"), ("--write", "--model", "x.pt")])
def test_bad_arguments_are_one_line(dataset, args):
    assert_one_line_error(run_cli("calibrate", dataset, *args))


def test_missing_dataset_is_one_line(tmp_path):
    assert_one_line_error(run_cli("calibrate", tmp_path / "nowhere"))
