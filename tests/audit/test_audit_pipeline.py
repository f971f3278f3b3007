"""End to end: `medcam audit` on two sample cases with a tiny model, metrics.json and the API."""

from __future__ import annotations

import shutil

import pytest

from medcam.audit import AuditConfig, DatasetError, run
from medcam.audit.schema import METRICS
from medcam.errors import MedcamError
from tests.audit.conftest import METHODS, SAMPLES
from tests.audit.tiny_spec import write_tiny_spec


def test_exit_code_reports_the_broken_case(audit_out):
    _, result, code = audit_out
    assert code == 3
    broken = [c for c in result["cases"] if c["error"] is not None]
    assert [c["case"] for c in broken] == ["empty_case"]
    assert result["dataset"] == {"name": "dataset", "n_cases": 3, "n_failed": 1,
                                 "n_with_ground_truth": 1}


def test_metrics_json_per_case_and_method(audit_out):
    _, result, _ = audit_out
    cases = {c["case"]: c for c in result["cases"]}
    with_gt, without = cases["case01"], cases["case05"]
    assert with_gt["ground_truth"]["mapping"] == "instances"
    assert with_gt["ground_truth"]["voxels"] > 0
    assert without["ground_truth"] is None
    assert with_gt["target"] == "lesion"
    for method in METHODS:
        entry = with_gt["methods"][method]
        for key in ("pointing_game", "energy_pointing_game", "iou", "dice", "deletion_auc",
                    "insertion_auc", "average_drop", "adcc", "road_morf", "road_lerf"):
            assert entry[key] is not None, key
        assert len(entry["curves"]["deletion"]) == 9
        assert entry["sanity"]["blocks"][0] == "fc"
        assert "pointing_game" not in without["methods"][method]
        assert "deletion_auc" in without["methods"][method]


def test_aggregate_has_mean_and_interval_and_parameters(audit_out):
    _, result, _ = audit_out
    for method in METHODS:
        agg = result["aggregate"][method]
        assert agg["pointing_game"]["n"] == 1
        assert agg["deletion_auc"]["n"] == 2
        lo, hi = agg["deletion_auc"]["ci"]
        assert lo <= agg["deletion_auc"]["mean"] <= hi
        assert set(agg) >= {m.key for m in METRICS}
    params = result["parameters"]
    assert params["n_steps"] == 8
    assert params["road_fractions"] == [0.2, 0.6]
    assert params["tolerance_mm"] == 5.0
    assert params["threshold"] == 0.5
    assert result["cases"][0]["baselines"] == {"deletion": "air", "insertion": "blur"}
    assert set(result["metrics"]) == {m.key for m in METRICS}


def test_python_api_returns_the_same_structure(tmp_path):
    dataset = tmp_path / "ds"
    shutil.copytree(SAMPLES / "case05", dataset / "case05")
    spec = write_tiny_spec(tmp_path)
    config = AuditConfig(n_steps=4, road_fractions=(0.5,), sanity=False)
    result = run(dataset, spec, ["gradcam@layer2"], config=config)
    assert result["schema"] == "medcam.audit/1"
    assert result["methods"] == ["gradcam@layer2"]
    assert result["metric_parameters"]["road"]["neighbourhood"] == 6
    entry = result["cases"][0]["methods"]["gradcam@layer2"]
    assert "sanity" not in entry
    assert len(entry["curves"]["deletion"]) == 5
    assert not (tmp_path / "out").exists()


def test_unknown_method_fails_before_any_work(tmp_path):
    shutil.copytree(SAMPLES / "case05", tmp_path / "ds" / "case05")
    with pytest.raises(MedcamError, match="unknown CAM method"):
        run(tmp_path / "ds", write_tiny_spec(tmp_path), ["nocam"])


def test_dataset_errors(tmp_path):
    with pytest.raises(DatasetError):
        run(tmp_path / "missing", "demo-ct3d")
    with pytest.raises(DatasetError):
        run(tmp_path, "demo-ct3d")
