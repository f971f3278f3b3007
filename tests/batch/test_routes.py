"""``medcam batch --routes`` (issue 18): each series goes to the model its rule names.

A mixed study (CT volume, chest radiograph, CT scout, SR) is run with the built-in
routes: the manifest records every decision, the CT gets the CT model and the
radiograph the DX model, the scout and the SR are skipped with their reasons, nothing
fails; the dry run (``medcam routes check --json``) takes the same decisions. A
resumed run keeps everything; an edited routes file redoes exactly the series whose
decision changed.
"""

from __future__ import annotations

import json
import subprocess
import sys

from .archive import make_mixed_archive
from .helpers import ENV, ROOT, assert_no_phi, last_run, manifest, output_texts, run_batch_cli

EXPECTED = {  # role -> (status, reason, model, route)
    "ct": ("done", None, "demo-ct3d",
           {"rule": "ct-volumes", "index": 2, "action": "explain", "model": "demo-ct3d"}),
    "dx": ("done", None, "demo-dx2d",
           {"rule": "radiographs", "index": 4, "action": "explain", "model": "demo-dx2d"}),
    "scout": ("skipped", "localizer", None,
              {"rule": "localizers", "index": 1, "action": "skip", "reason": "localizer"}),
    "sr": ("skipped", "not_an_image_series", None,  # decided by the plan, before any rule
           {"action": "skip", "reason": "not_an_image_series"}),
}


def _by_role(out, roles):
    return {roles[e["series_instance_uid"]]: e for e in manifest(out)}


def test_batch_routes_a_mixed_study_and_the_dry_run_agrees(tmp_path):
    roles = make_mixed_archive(tmp_path / "archive")
    out = tmp_path / "out"
    proc = run_batch_cli(tmp_path / "archive", out, "--routes", "default", "--outputs",
                         "sc,ko", "--quiet")
    assert proc.returncode == 0, proc.stderr
    entries = _by_role(out, roles)
    got = {role: (e["status"], e["reason"], e["model"] and e["model"]["name"], e["route"])
           for role, e in entries.items()}
    assert got == EXPECTED
    assert entries["ct"]["method"] == entries["dx"]["method"] == "gradcam"
    assert [o["kind"] for o in entries["dx"]["outputs"]] == ["sc", "ko"]
    assert entries["scout"]["message"] == "rule 'localizers' skips the series"
    assert last_run(out)["routes"] == "built-in" and last_run(out)["model"] is None
    assert_no_phi(*output_texts(out))

    dry = subprocess.run([sys.executable, "-m", "medcam", "routes", "check", "default",
                          str(tmp_path / "archive"), "--json"], capture_output=True,
                         text=True, timeout=120, check=False, env=ENV, cwd=ROOT)
    assert dry.returncode == 0, dry.stderr
    planned = {row["series_instance_uid"]: row for row in map(json.loads, dry.stdout.splitlines())}
    assert set(planned) == {uid for uid, role in roles.items() if role != "sr"}  # images only
    for uid, row in planned.items():
        taken = {k: v for k, v in manifest_route(out, uid).items() if k != "index"}
        assert taken == {k: row[k] for k in ("rule", "action", "model", "reason") if k in row}

    again = run_batch_cli(tmp_path / "archive", out, "--routes", "default", "--outputs",
                          "sc,ko", "--quiet")
    assert again.returncode == 0, again.stderr
    assert last_run(out)["series"]["kept"] == 2 and last_run(out)["series"]["processed"] == 0

    # an edited routes file: the CT rule now names another method -> only the CT is redone
    edited = tmp_path / "routes.toml"
    text = (ROOT / "medcam" / "routing" / "default.toml").read_text()
    edited.write_text(text.replace('model = "demo-ct3d"',
                                   'model = "demo-ct3d"\nmethod = "layercam"'))
    third = run_batch_cli(tmp_path / "archive", out, "--routes", str(edited), "--outputs",
                          "sc,ko", "--quiet")
    assert third.returncode == 0, third.stderr
    assert last_run(out)["series"]["kept"] == 1 and last_run(out)["series"]["processed"] == 1
    redone = _by_role(out, roles)
    assert redone["ct"]["method"] == "layercam" and redone["ct"]["route"]["method"] == "layercam"
    assert redone["ct"]["job_key"] != entries["ct"]["job_key"]
    assert redone["dx"]["job_key"] == entries["dx"]["job_key"]


def manifest_route(out, uid):
    return next(e["route"] for e in manifest(out) if e["series_instance_uid"] == uid)


def test_batch_routes_errors_are_one_line(tmp_path):
    make_mixed_archive(tmp_path / "archive")
    bad = tmp_path / "routes.toml"
    bad.write_text("[[rule]]\nname = 'x'\nmodel = 'no-such-model'\n")
    proc = run_batch_cli(tmp_path / "archive", tmp_path / "out", "--routes", str(bad))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "no-such-model" in lines[0]
    assert not (tmp_path / "out").exists()
