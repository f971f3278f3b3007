"""Routing rules: parsing with errors that point at the rule, first-match decisions,
and the ``medcam routes check`` dry run over a mixed archive (no model is run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medcam.errors import RoutesError
from medcam.geometry import Geometry
from medcam.routing import SeriesFacts, check_models, decide, load_routes, parse_routes
from medcam.series.scan import scan_series
from medcam.synthetic.dicom import write_series
from medcam.synthetic.projection import write_projection

AXIAL = (0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "medcam", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def _ct(folder: Path, seed: str, slices: int, **extra: object) -> None:
    geometry = Geometry((slices, 16, 16), (3.0, 2.0, 2.0), (0.0, 0.0, 0.0), AXIAL)
    volume = np.zeros(geometry.shape, np.float32)
    write_series(volume, geometry, folder, uid_seed=seed, extra=extra or None)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CT volume, CT scout, 4-slice CT, MR volume, chest radiograph, knee radiograph."""
    root = tmp_path_factory.mktemp("mixed")
    _ct(root / "ct", "route-ct", 12, BodyPartExamined="CHEST")
    _ct(root / "scout", "route-scout", 12, ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    _ct(root / "thin", "route-thin", 4)
    geometry = Geometry((10, 16, 16), (3.0, 2.0, 2.0), (0.0, 0.0, 0.0), AXIAL)
    write_series(np.zeros(geometry.shape, np.float32), geometry, root / "mr", modality="MR",
                 uid_seed="route-mr")
    image = np.zeros((32, 32), np.float32)
    write_projection(image, (0.5, 0.5), root / "dx" / "dx.dcm", uid_seed="route-dx",
                     extra={"BodyPartExamined": "CHEST"})
    write_projection(image, (0.5, 0.5), root / "knee" / "dx.dcm", uid_seed="route-knee",
                     extra={"BodyPartExamined": "KNEE", "SeriesDescription": "Knee AP"})
    return root


CUSTOM = """
[[rule]]
name = "knees"
series_description = "knee"
skip = "not_a_chest"

[[rule]]
name = "chest-ct"
modality = ["ct"]
body_part = ["CHEST"]
slices = [8, 100]
model = "demo-ct3d"
method = "layercam"
outputs = "sc,pm"

[[rule]]
name = "radiographs"
modality = ["DX"]
pixel_spacing_mm = [0.1, 1.0]
in_model_scope = true
model = "demo-dx2d"
"""


def _decisions(routes_text: str | None, archive: Path) -> dict[str, dict[str, object]]:
    routes = load_routes() if routes_text is None else parse_routes(routes_text)
    refs, _ = scan_series(archive)
    from medcam.routing import route

    by_folder = {ref.paths[0].parent.name: route(routes, ref).describe() for ref in refs}
    return by_folder


def test_default_routes_each_series_to_the_model_that_fits(archive: Path) -> None:
    got = _decisions(None, archive)
    assert got == {
        "ct": {"rule": "ct-volumes", "action": "explain", "model": "demo-ct3d"},
        "scout": {"rule": "localizers", "action": "skip", "reason": "localizer"},
        "thin": {"rule": "ct-too-few-slices", "action": "skip", "reason": "too_few_slices"},
        "mr": {"action": "skip", "reason": "not_routed"},
        "dx": {"rule": "radiographs", "action": "explain", "model": "demo-dx2d"},
        "knee": {"rule": "radiographs", "action": "explain", "model": "demo-dx2d"},
    }


def test_custom_rules_first_match_wins(archive: Path) -> None:
    got = _decisions(CUSTOM, archive)
    assert got["knee"] == {"rule": "knees", "action": "skip", "reason": "not_a_chest"}
    assert got["ct"] == {"rule": "chest-ct", "action": "explain", "model": "demo-ct3d",
                         "method": "layercam", "outputs": "sc,pm"}
    assert got["thin"]["reason"] == "not_routed"  # 4 slices: outside [8, 100]
    assert got["scout"]["rule"] == "chest-ct"  # these rules have no localizer rule
    assert got["mr"]["reason"] == "not_routed"
    assert got["dx"]["rule"] == "radiographs"


def test_model_scope_refuses_a_series_the_spec_does_not_accept() -> None:
    routes = parse_routes('[[rule]]\nname = "any"\nin_model_scope = true\nmodel = "demo-ct3d"')
    assert decide(routes, SeriesFacts(modality="CT")).model == "demo-ct3d"
    assert decide(routes, SeriesFacts(modality="MR")).reason == "not_routed"


@pytest.mark.parametrize(("text", "message"), [
    ("[[rule]\nname = 'a'", "not valid TOML"),
    ("", "no [[rule]] table"),
    ("[[rule]]\nmodel = 'demo-ct3d'", "rule 1: needs a 'name'"),
    ("[[rule]]\nname = 'a'\nmodel = 'demo-ct3d'\nmodalty = ['CT']",
     "rule 1 ('a'): unknown key 'modalty'"),
    ("[[rule]]\nname = 'a'\nmodel = 'demo-ct3d'\nskip = 'x'", "exactly one of 'model'"),
    ("[[rule]]\nname = 'a'\nskip = 'x'\n[[rule]]\nname = 'b'\n", "rule 2 ('b'): give exactly"),
    ("[[rule]]\nname = 'a'\nseries_description = '('\nskip = 'x'", "regular expression"),
    ("[[rule]]\nname = 'a'\nslices = [10, 2]\nskip = 'x'", "slices must be [min, max]"),
    ("[[rule]]\nname = 'a'\nslices = 'many'\nskip = 'x'", "slices must be [min, max]"),
    ("[[rule]]\nname = 'a'\nmodel = '../etc/passwd'", "not a plain name"),
    ("[[rule]]\nname = 'a'\nskip = 'x'\n[[rule]]\nname = 'a'\nskip = 'y'", "unique"),
    ("[[rule]]\nname = 'a'\nskip = 'x'\nin_model_scope = 1", "in_model_scope must be bool"),
])
def test_bad_routes_files_name_the_rule_and_key(text: str, message: str) -> None:
    with pytest.raises(RoutesError, match=None) as info:
        parse_routes(text)
    assert message in str(info.value)


def test_unknown_model_method_or_outputs_is_refused_before_any_work() -> None:
    for line, message in (("model = 'no-such-model'", "rule 'a': unknown model"),
                          ("model = 'demo-ct3d'\nmethod = 'nocam'", "rule 'a'"),
                          ("model = 'demo-ct3d'\noutputs = 'sc,xx'", "rule 'a': outputs")):
        with pytest.raises(RoutesError) as info:
            check_models(parse_routes(f"[[rule]]\nname = 'a'\n{line}"))
        assert str(info.value).startswith(message), info.value


def test_routes_check_cli_dry_run_matches_the_library(archive: Path, tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text(CUSTOM)
    proc = run_cli("routes", "check", str(routes), str(archive), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    refs, _ = scan_series(archive)
    folder_of = {ref.series_instance_uid: ref.paths[0].parent.name for ref in refs}
    expected = _decisions(CUSTOM, archive)
    assert len(rows) == len(expected) == 6
    for row in rows:
        want = expected[folder_of[row.pop("series_instance_uid")]]
        row.pop("modality"), row.pop("n_instances")
        assert row == want


def test_routes_check_cli_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "routes.toml"
    bad.write_text("[[rule]]\nname = 'a'\nmodel = 'no-such-model'\n")
    for args in (("routes", "check", str(bad)), ("routes", "check", str(tmp_path / "none"))):
        proc = run_cli(*args)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        assert "Traceback" not in proc.stderr


def test_default_routes_file_is_valid_and_printed() -> None:
    proc = run_cli("routes", "default")
    assert proc.returncode == 0
    assert parse_routes(proc.stdout).rules == load_routes().rules
    check_models(load_routes())


def test_explain_with_routes_uses_each_series_model_and_records_skips(archive: Path,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli("explain", str(archive), "--routes", "default", "--out", str(out),
                   "--outputs", "sc,ko", "--quiet")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["routes"] == "built-in" and summary["model"] is None
    refs, _ = scan_series(archive)
    folder_of = {ref.series_instance_uid: ref.paths[0].parent.name for ref in refs}
    got = {folder_of[e["series_instance_uid"]]: (e["rule"], e["model"], e["skipped"], e["error"])
           for e in summary["series"]}
    assert got == {
        "ct": ("ct-volumes", "demo-ct3d", None, None),
        "scout": ("localizers", None, "localizer", None),
        "thin": ("ct-too-few-slices", None, "too_few_slices", None),
        "mr": (None, None, "not_routed", None),
        "dx": ("radiographs", "demo-dx2d", None, None),
        "knee": ("radiographs", "demo-dx2d", None, None),
    }
    written = {p.name for p in out.iterdir() if p.is_dir()}
    assert len(written) == 3  # the CT and the two radiographs, nothing for the skips
    # the dry run takes the same decisions
    dry = run_cli("routes", "check", "default", str(archive), "--json")
    decisions = {json.loads(line)["series_instance_uid"]: json.loads(line)
                 for line in dry.stdout.splitlines()}
    for e in summary["series"]:
        assert decisions[e["series_instance_uid"]].get("rule") == e["rule"]
        assert decisions[e["series_instance_uid"]].get("model") == e["model"]


def test_explain_where_every_series_is_skipped_writes_only_the_summary(
        archive: Path, tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text("[[rule]]\nname = 'nothing'\nmodality = ['US']\nmodel = 'demo-ct3d'\n")
    proc = run_cli("explain", str(archive / "mr"), "--routes", str(routes), "--out",
                   str(tmp_path / "out"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [e["skipped"] for e in summary["series"]] == ["not_routed"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["summary.json"]


def test_a_rule_may_name_a_spec_file_relative_to_the_routes_file(tmp_path: Path) -> None:
    import shutil

    from medcam.model.spec import BUILTIN_DIR

    (tmp_path / "models").mkdir()
    spec = json.loads((BUILTIN_DIR / "demo-dx2d.json").read_text())
    shutil.copy(BUILTIN_DIR / spec["weights"], tmp_path / "models" / "chest.pt")
    (tmp_path / "models" / "chest.json").write_text(
        json.dumps({**spec, "name": "chest", "weights": "chest.pt"}))
    routes_file = tmp_path / "routes.toml"
    routes_file.write_text("[[rule]]\nname = 'dx'\nmodality = ['DX']\nin_model_scope = true\n"
                           "model = 'models/chest.json'\n")
    routes = load_routes(routes_file)
    assert routes.rules[0].model == str(tmp_path / "models" / "chest.json")
    check_models(routes)
    assert decide(routes, SeriesFacts(modality="DX")).model == routes.rules[0].model
    assert decide(routes, SeriesFacts(modality="CT")).reason == "not_routed"
    with pytest.raises(RoutesError, match="not a plain name or a model spec file"):
        parse_routes("[[rule]]\nname = 'a'\nmodel = 'models/chest.exe'\n")
