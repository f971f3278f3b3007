"""The synthetic DICOM writer: conformance (dciodvfy), determinism, names and arguments."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless, RLELossless

from medcam.synthetic.dicom import (
    WRITABLE_TRANSFER_SYNTAXES,
    deterministic_uid,
    write_series,
)
from medcam.synthetic.enhanced import write_enhanced_series
from medcam.synthetic.projection import write_projection

from ._helpers import ORIENTATIONS, dicom_geometry, make_volume

DCIODVFY = shutil.which("dciodvfy")


def _dciodvfy_errors(path: Path) -> list[str]:
    assert DCIODVFY is not None
    run = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, check=False)
    lines = (run.stdout + run.stderr).splitlines()
    return [line for line in lines if line.startswith("Error")]


@pytest.mark.skipif(DCIODVFY is None, reason="dicom3tools (dciodvfy) is not installed")
@pytest.mark.parametrize(("modality", "transfer_syntax_uid"), [
    ("CT", "1.2.840.10008.1.2.1"), ("MR", "1.2.840.10008.1.2.1"), ("CT", RLELossless),
    ("CT", JPEG2000Lossless)])
def test_dciodvfy_series_has_no_errors(tmp_path: Path, modality: str,
                                       transfer_syntax_uid: str) -> None:
    geometry = dicom_geometry(*ORIENTATIONS["oblique"], (2.0, 0.5, 0.8), (2, 32, 32))
    paths = write_series(make_volume(geometry.shape), geometry, tmp_path, modality=modality,
                         transfer_syntax_uid=transfer_syntax_uid,
                         rescale_intercept=-1024.0 if modality == "CT" else 0.0,
                         uid_seed="dcio")
    for path in paths:
        assert _dciodvfy_errors(path) == []


@pytest.mark.skipif(DCIODVFY is None, reason="dicom3tools (dciodvfy) is not installed")
def test_dciodvfy_projection_has_no_errors(tmp_path: Path) -> None:
    path = write_projection(np.linspace(0, 1, 600).reshape(20, 30), (0.2, 0.3),
                            tmp_path / "dx.dcm", uid_seed="dciodx")
    assert _dciodvfy_errors(path) == []


def test_dciodvfy_reports_errors_when_there_are_some(tmp_path: Path) -> None:
    """The gate above can fail: a file missing a Type 1 attribute gives Error lines."""
    if DCIODVFY is None:
        pytest.skip("dicom3tools (dciodvfy) is not installed")
    geometry = dicom_geometry(*ORIENTATIONS["axial"], (2.0, 0.5, 0.5), (1, 4, 4))
    path = write_series(make_volume(geometry.shape), geometry, tmp_path, uid_seed="bad")[0]
    ds = pydicom.dcmread(path)
    del ds.ImageOrientationPatient
    ds.save_as(path, enforce_file_format=True)
    assert _dciodvfy_errors(path)


def test_same_seed_writes_identical_bytes(tmp_path: Path) -> None:
    geometry = dicom_geometry(*ORIENTATIONS["coronal"], (2.0, 0.5, 0.8), (3, 6, 5))
    volume = make_volume(geometry.shape)
    first = write_series(volume, geometry, tmp_path / "a", uid_seed="same")
    second = write_series(volume, geometry, tmp_path / "b", uid_seed="same")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    third = write_series(volume, geometry, tmp_path / "c")
    assert pydicom.dcmread(third[0]).SOPInstanceUID != pydicom.dcmread(first[0]).SOPInstanceUID


def test_uids() -> None:
    uid = deterministic_uid("seed", "series")
    assert uid == deterministic_uid("seed", "series") != deterministic_uid("seed", "study")
    assert re.fullmatch(r"2\.25\.(0|[1-9][0-9]*)", uid)
    assert len(uid) <= 64
    assert deterministic_uid(None, "x") != deterministic_uid(None, "x")
    assert deterministic_uid(None, "x").startswith("2.25.")


def test_names_order_and_attributes(tmp_path: Path) -> None:
    geometry = dicom_geometry(*ORIENTATIONS["axial"], (2.0, 0.5, 0.8), (12, 4, 4))
    volume = make_volume(geometry.shape)
    paths = write_series(volume, geometry, tmp_path / "s", descending=True, uid_seed="n",
                         extra={"InstitutionName": "Nowhere"})
    names = [p.name for p in paths]
    assert all(re.fullmatch(r"[0-9a-f]{16}\.dcm", n) for n in names)
    assert names != sorted(names)
    assert names != sorted(names, reverse=True)
    headers = [pydicom.dcmread(p) for p in paths]
    assert [int(h.InstanceNumber) for h in headers] == list(range(12, 0, -1))
    assert {h.InstitutionName for h in headers} == {"Nowhere"}
    for k, h in enumerate(headers):
        np.testing.assert_allclose([float(v) for v in h.ImagePositionPatient],
                                   geometry.index_to_lps((k, 0, 0)), atol=1e-9)
        assert [float(v) for v in h.PixelSpacing] == [0.5, 0.8]
        assert all(len(str(v)) <= 16 for v in h.ImagePositionPatient)
    plain = write_series(volume, geometry, tmp_path / "p", shuffle_names=False, uid_seed="p")
    assert [p.name for p in plain] == [f"IM{k:05d}.dcm" for k in range(1, 13)]


def test_writer_rejects_bad_arguments(tmp_path: Path) -> None:
    geometry = dicom_geometry(*ORIENTATIONS["axial"], (2.0, 0.5, 0.8), (2, 4, 4))
    volume = make_volume(geometry.shape)
    with pytest.raises(ValueError, match="modality"):
        write_series(volume, geometry, tmp_path, modality="US")
    with pytest.raises(ValueError, match="shape"):
        write_series(volume[:1], geometry, tmp_path)
    with pytest.raises(ValueError, match="16-bit"):
        write_series(volume * 100, geometry, tmp_path)
    with pytest.raises(ValueError, match="finite"):
        write_series(np.full(geometry.shape, np.nan), geometry, tmp_path)
    with pytest.raises(ValueError, match="transfer syntax"):
        write_series(volume, geometry, tmp_path, transfer_syntax_uid="1.2.840.10008.1.2.4.50")
    with pytest.raises(ValueError, match="32 x 32"):
        write_series(volume, geometry, tmp_path, transfer_syntax_uid=JPEG2000Lossless)
    with pytest.raises(ValueError, match="value_range"):
        write_projection(np.full((4, 4), 2.0), (1.0, 1.0), tmp_path / "x.dcm")
    with pytest.raises(ValueError, match="DX"):
        write_projection(np.zeros((4, 4)), (1.0, 1.0), tmp_path / "x.dcm", modality="CR")
    with pytest.raises(ValueError, match="permutation"):
        write_enhanced_series(volume, geometry, tmp_path / "e.dcm", frame_order=[0, 0])
    assert len(WRITABLE_TRANSFER_SYNTAXES) == 6
