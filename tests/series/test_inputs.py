"""Inputs: folders with several series and non-image objects, file lists, bad paths."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from medcam.errors import NoImageSeriesError, NotAVolumeError, NotDicomError
from medcam.series import SeriesRef, find_series, read_series
from medcam.synthetic.dicom import write_series
from medcam.synthetic.projection import write_projection

from ._helpers import CANARY_ID, CANARY_NAME, ORIENTATIONS, TEST_FILES, dicom_geometry, make_volume


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """Two CT series and a DX in one study, plus SR, RT, SEG, DICOMDIR and junk files."""
    root = tmp_path / "study"
    geometry = dicom_geometry(*ORIENTATIONS["axial"], (2.0, 0.5, 0.5), (6, 8, 8))
    kwargs = {"patient_name": CANARY_NAME, "patient_id": CANARY_ID,
              "study_instance_uid": "2.25.42"}
    write_series(make_volume(geometry.shape), geometry, root / "a" / "deep", uid_seed="s1",
                 **kwargs)
    write_series(make_volume((4, 8, 8)), geometry.with_shape((4, 8, 8)), root / "b",
                 uid_seed="s2", series_number=2, **kwargs)
    write_projection(np.zeros((6, 7)), (0.2, 0.2), root / "dx" / "x.dcm", uid_seed="s3",
                     **kwargs)
    for name in ("test-SR.dcm", "rtplan.dcm", "liver_1frame.dcm", "dicomdirtests/DICOMDIR"):
        shutil.copy(TEST_FILES / name, root / Path(name).name)
    (root / "notes.txt").write_text("not dicom")
    (root / "empty.dcm").write_bytes(b"")
    (root / "random.bin").write_bytes(np.random.default_rng(0).bytes(4096))
    return root


def test_find_series_groups_image_series_only(study: Path) -> None:
    refs = find_series(study)
    assert sorted((r.modality, r.n_instances) for r in refs) == [
        ("CT", 4), ("CT", 6), ("DX", 1)]
    assert len({r.series_instance_uid for r in refs}) == 3
    assert {r.study_instance_uid for r in refs} == {"2.25.42"}
    for ref in refs:
        assert all(p.is_file() for p in ref.paths)
        text = repr(ref)
        assert CANARY_ID not in text
        assert "CANARY" not in text
        assert str(study) not in text
        with pytest.raises(dataclasses.FrozenInstanceError):
            ref.modality = "MR"  # type: ignore[misc]


def test_read_series_of_each_ref(study: Path) -> None:
    shapes = sorted(read_series(ref).array.shape for ref in find_series(study))
    assert shapes == [(1, 6, 7), (4, 8, 8), (6, 8, 8)]


def test_several_series_asks_for_find_series(study: Path) -> None:
    with pytest.raises(NotAVolumeError) as info:
        read_series(study)
    assert info.value.reason == "multiple_series"
    assert "find_series" in str(info.value)
    assert "CANARY" not in str(info.value)


def test_file_list_and_single_file(study: Path) -> None:
    ct = next(r for r in find_series(study) if r.n_instances == 4)
    assert read_series(list(ct.paths)).array.shape[0] == 4
    assert read_series([str(p) for p in ct.paths[:2]]).array.shape[0] == 2
    assert read_series(ct.paths[0]).array.shape[0] == 1


def test_no_image_series(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoImageSeriesError, match="no files"):
        read_series(tmp_path / "empty")
    assert find_series(tmp_path / "empty") == []
    only_junk = tmp_path / "junk"
    only_junk.mkdir()
    (only_junk / "a.txt").write_text("hello")
    shutil.copy(TEST_FILES / "test-SR.dcm", only_junk)
    with pytest.raises(NoImageSeriesError,
                       match="1 are not DICOM, 0 could not be parsed, 1 are DICOM objects"):
        read_series(only_junk)
    with pytest.raises(NoImageSeriesError, match=r"1\.2\.840\.10008\.5\.1\.4\.1\.1\.88\.33"):
        read_series(only_junk / "test-SR.dcm")


def test_not_dicom_and_missing_paths(tmp_path: Path) -> None:
    text = tmp_path / "a.dcm"
    text.write_text("definitely not DICOM " * 20)
    with pytest.raises(NotDicomError):
        read_series(text)
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    with pytest.raises(NotDicomError):
        read_series(empty)
    preamble_only = tmp_path / "preamble.dcm"
    preamble_only.write_bytes(b"\0" * 128 + b"DICM")
    with pytest.raises(NotDicomError):
        read_series(preamble_only)
    with pytest.raises(NotDicomError):
        read_series(tmp_path / "missing")
    with pytest.raises(NotDicomError):
        find_series([tmp_path / "missing"])
    with pytest.raises(NotDicomError):
        read_series(SeriesRef("2.25.1", "2.25.2", "CT", (tmp_path / "gone.dcm",), 1))


def test_raw_data_set_without_preamble(tmp_path: Path) -> None:
    """An old-style data set without preamble or file meta is tried and read."""
    geometry = dicom_geometry(*ORIENTATIONS["axial"], (2.0, 0.5, 0.5), (1, 8, 8))
    volume = make_volume(geometry.shape)
    path = write_series(volume, geometry, tmp_path / "p10", uid_seed="raw")[0]
    ds = pydicom.dcmread(path)
    del ds.file_meta
    ds.preamble = None
    raw = tmp_path / "raw.dcm"
    ds.save_as(raw, implicit_vr=True, little_endian=True)
    assert raw.read_bytes()[:2] == b"\x08\x00"
    series = read_series(raw)
    np.testing.assert_array_equal(series.array, volume.astype(np.float32))


def test_series_ref_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="paths"):
        SeriesRef("1", "2", "CT", (), 1)
    with pytest.raises(ValueError, match="n_instances"):
        SeriesRef("1", "2", "CT", (tmp_path,), 2)
