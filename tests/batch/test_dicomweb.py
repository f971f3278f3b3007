"""A DICOMweb archive (QIDO-RS + WADO-RS) and --push, against real Orthancs on loopback.

Like tests/service, this fails when Orthanc or its DICOMweb plugin is missing (CI
installs both). Ports are picked free, so it does not clash with other runs.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from medcam.synthetic.dicom import deterministic_uid
from tests.service.orthanc import Orthanc

from .archive import ct_series
from .helpers import assert_no_phi, last_run, manifest, output_texts, run_batch_cli


@pytest.fixture
def orthancs(tmp_path):
    src, dst = Orthanc(tmp_path / "src"), Orthanc(tmp_path / "dst", aet="DEST")
    try:
        src.start()
        dst.start()
        yield src, dst
    finally:
        src.stop()
        dst.stop()


def test_dicomweb_archive_with_push(tmp_path, orthancs):
    src, dst = orthancs
    study = deterministic_uid("web-study", "study")
    files = [*ct_series(tmp_path / "in" / "a", "web-a", study=study),
             *ct_series(tmp_path / "in" / "b", "web-b", study=study),
             *ct_series(tmp_path / "in" / "mr", "web-mr", modality="MR",
                        study=deterministic_uid("web-mr-study", "study"))]
    sr = pydicom.dcmread(Path(pydicom.__file__).parent / "data" / "test_files" / "reportsi.dcm")
    sr.StudyInstanceUID = study  # an SR in the CT study: a non-image series
    sr.save_as(tmp_path / "in" / "sr.dcm")
    src.upload([*files, tmp_path / "in" / "sr.dcm"])
    out = tmp_path / "out"
    push = f"dicom://{dst.aet}@127.0.0.1:{dst.dicom_port}"
    args = ("--query", "ModalitiesInStudy=CT", "--workers", "2")

    proc = run_batch_cli(src.dicomweb, out, *args, "--push", push, timeout=240)
    assert proc.returncode == 0, proc.stderr
    entries = manifest(out)
    assert sorted((e["status"], e["reason"]) for e in entries) == [
        ("done", None), ("done", None), ("skipped", "not_an_image_series")]
    for e in entries:
        assert e["study_instance_uid"] == study
        if e["status"] == "done":
            n = len(e["outputs"])
            kinds = {k: [o["kind"] for o in e["outputs"]].count(k)
                     for k in {o["kind"] for o in e["outputs"]}}
            assert e["push"] == {"destination": push, "state": "stored", "stored": n,
                                 "failed": 0, "detail": None,
                                 "objects": {k: {"stored": c, "failed": 0}
                                             for k, c in kinds.items()}}
            assert kinds["sc"] == 8
            assert all((out / f).is_file() for f in e["files"])
    assert len(dst.sop_instance_uids()) == sum(
        len(e["outputs"]) for e in entries if e["status"] == "done")
    assert not list((out / ".medcam-batch" / "spool").iterdir())
    assert_no_phi(proc.stdout, proc.stderr, *output_texts(out))

    again = run_batch_cli(src.dicomweb, out, *args, "--push", push)
    assert again.returncode == 0 and last_run(out)["series"]["processed"] == 0

    # push the heatmaps back into the archive: adopted (not recomputed), and a later
    # run skips them as medcam's own outputs
    back = f"dicom://{src.aet}@127.0.0.1:{src.dicom_port}"
    assert run_batch_cli(src.dicomweb, out, *args, "--push", back).returncode == 0
    stats = last_run(out)["series"]
    assert (stats["processed"], stats["adopted"]) == (0, 2)
    assert run_batch_cli(src.dicomweb, out, *args).returncode == 0
    reasons = sorted(str(e["reason"]) for e in manifest(out))
    # every series of the two result sets pushed back is recognised as medcam's own
    n_own = sum(len({o["series_instance_uid"] for o in e["outputs"]}) for e in entries
                if e["status"] == "done")
    assert n_own >= 8
    assert reasons == ["None", "None", *["medcam_output"] * n_own, "not_an_image_series"]


def test_unreachable_dicomweb_server_is_one_error_line(tmp_path):
    from tests.service.orthanc import free_port

    proc = run_batch_cli(f"http://127.0.0.1:{free_port()}/dicom-web", tmp_path / "out")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: cannot query the DICOMweb server (ConnectionError)"]
