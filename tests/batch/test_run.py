"""``medcam batch`` end to end: a messy archive, resume, --retry-failed, other methods."""

from __future__ import annotations

import fcntl
import shutil

import pydicom
import pytest
import torch

from .archive import ct_series, make_messy_archive
from .helpers import (
    assert_no_phi,
    folder_stamp,
    last_run,
    manifest,
    output_texts,
    run_batch_cli,
    same_manifest,
)

EXPECTED = {
    "good": ("done", None),
    "good_with_duplicates": ("done", None),
    "bad_geometry": ("failed", "not_a_volume.duplicate_position"),
    "truncated": ("failed", "pixel_data"),
    "mr": ("skipped", "modality_not_accepted"),
    "sr": ("skipped", "not_an_image_series"),
}


def check_done_entry(out, entry):
    assert entry["output_dir"] == entry["study_instance_uid"] + "/" + entry["key"]
    kinds = [o["kind"] for o in entry["outputs"]]
    assert kinds.count("sc") == entry["n_instances"] == 8
    assert {"pm", "sr", "ko"} <= set(kinds) and len(entry["files"]) == len(kinds)
    assert abs(sum(entry["probabilities"].values()) - 1) < 1e-5
    assert entry["model"]["name"] == "demo-ct3d" and len(entry["model"]["sha256"]) == 64
    assert entry["target"] in entry["probabilities"]
    assert {"read", "cam", "export", "total"} <= set(entry["timings"])
    for rel in entry["files"]:
        assert (out / rel).is_file()
    ds = pydicom.dcmread(out / entry["files"][0])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert ds.SeriesInstanceUID == entry["output_series_instance_uid"]
    assert ds.StudyInstanceUID == entry["study_instance_uid"]


def test_messy_archive_resume_retry_and_method_change(tmp_path):
    roles = make_messy_archive(tmp_path / "archive")
    out = tmp_path / "out"
    proc = run_batch_cli(tmp_path / "archive", out, "--workers", "2")
    assert proc.returncode == 3, proc.stderr  # some series failed, the run went on
    assert "Traceback" not in proc.stderr
    entries = manifest(out)
    assert {e["series_instance_uid"]: (e["status"], e["reason"]) for e in entries} == {
        uid: EXPECTED[role] for uid, role in roles.items()}
    for e in entries:
        assert e["model"]["name"] == "demo-ct3d" and e["method"] == "gradcam"
        if e["status"] == "done":
            check_done_entry(out, e)
        else:
            assert e["message"] and e["reason"]
    assert_no_phi(proc.stdout, proc.stderr, *output_texts(out))
    assert not list((out / ".medcam-batch" / "staging").iterdir())
    first = last_run(out)["series"]
    assert (first["processed"], first["kept"], first["done"], first["failed"]) == (5, 0, 3, 2)
    stamps = {e["key"]: folder_stamp(out, e) for e in entries if e["status"] == "done"}
    snapshot = tmp_path / "first.jsonl"
    shutil.copy(out / "manifest.jsonl", snapshot)

    # the same command again: nothing is opened again, the manifest is the same
    assert run_batch_cli(tmp_path / "archive", out, "--quiet").returncode == 3
    assert last_run(out)["series"]["processed"] == 0
    assert last_run(out)["headers_read"] == 0  # the scan cache knew every file
    assert (out / "manifest.jsonl").read_bytes() == snapshot.read_bytes()

    # --retry-failed: only the two failed series are processed again
    assert run_batch_cli(tmp_path / "archive", out, "--retry-failed").returncode == 3
    assert last_run(out)["series"]["processed"] == 2
    assert {e["key"]: folder_stamp(out, e) for e in manifest(out)
            if e["status"] == "done"} == stamps

    # a repaired series is retried without the flag (its listing changed)
    truncated = next(u for u, r in roles.items() if r == "truncated")
    shutil.rmtree(tmp_path / "archive" / "c" / "trunc")
    ct_series(tmp_path / "archive" / "c" / "trunc", "truncated",
              study=entries[0]["study_instance_uid"])
    assert run_batch_cli(tmp_path / "archive", out).returncode == 3  # bad geometry remains
    status = {e["series_instance_uid"]: e["status"] for e in manifest(out)}
    assert status[truncated] == "done" and last_run(out)["series"]["processed"] == 1

    # another method: every image series is redone, the old outputs replaced
    assert run_batch_cli(tmp_path / "archive", out, "--method", "layercam").returncode == 3
    assert last_run(out)["series"]["processed"] == 5
    again = manifest(out)
    assert {e["method"] for e in again} == {"layercam"}
    for e in again:
        if e["status"] == "done":
            check_done_entry(out, e)
    assert same_manifest(out, out)


@pytest.mark.parametrize(("args", "needle"), [
    (("--model", "no-such-model"), "unknown model"),
    (("--method", "no-such-cam"), "no-such-cam"),
    (("--workers", "0"), "--workers"),
    (("--ray-address", "auto"), "--ray-address needs --engine ray"),
    (("--device", "tpu"), "unknown device"),
    (("--query", "Modality=CT"), "--query needs a DICOMweb URL"),
    (("--push", "ftp://x"), "--push must be"),
])
def test_bad_input_is_one_error_line(tmp_path, args, needle):
    ct_series(tmp_path / "archive", "bad-input")
    proc = run_batch_cli(tmp_path / "archive", tmp_path / "out", *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
    assert not (tmp_path / "out" / "manifest.jsonl").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_cuda_without_a_gpu_is_bad_input(tmp_path):
    ct_series(tmp_path / "archive", "no-gpu")
    proc = run_batch_cli(tmp_path / "archive", tmp_path / "out", "--device", "cuda")
    assert proc.returncode == 2
    assert proc.stderr == "error: --device cuda was given but no CUDA GPU is visible\n"


def test_missing_archive_and_busy_output(tmp_path):
    proc = run_batch_cli(tmp_path / "nope", tmp_path / "out")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
    assert not (tmp_path / "out").exists()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.dcm").write_text("hello")
    proc = run_batch_cli(tmp_path / "text", tmp_path / "out")
    assert proc.returncode == 2 and "no DICOM series in the archive" in proc.stderr
    assert not (tmp_path / "out").exists()
    ct_series(tmp_path / "archive", "busy")
    (tmp_path / "out" / ".medcam-batch").mkdir(parents=True)
    with open(tmp_path / "out" / ".medcam-batch" / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        proc = run_batch_cli(tmp_path / "archive", tmp_path / "out")
    assert proc.returncode == 2
    assert "another medcam batch run" in proc.stderr
