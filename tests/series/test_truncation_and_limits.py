"""B-2 truncation (5 files x 20 offsets = 100 typed errors) and B-5 size limits."""

from __future__ import annotations

import shutil
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEGLSLossless, RLELossless

from medcam.errors import LimitExceededError, MedcamError, NotDicomError, PixelDataError
from medcam.series import files, find_series, pixels, read_series
from medcam.synthetic.dicom import write_series
from medcam.synthetic.enhanced import write_enhanced_series
from medcam.synthetic.projection import write_projection

from ._helpers import ORIENTATIONS, TEST_FILES, dicom_geometry, make_volume

N_OFFSETS = 20


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("valid")
    geometry = dicom_geometry(*ORIENTATIONS["axial"], (2.0, 0.5, 0.5), (1, 32, 32))
    volume = make_volume(geometry.shape)
    files = [
        write_series(volume, geometry, root / "native", uid_seed="t1")[0],
        write_series(volume, geometry, root / "rle", transfer_syntax_uid=RLELossless,
                     uid_seed="t2")[0],
        write_series(volume, geometry, root / "jls", transfer_syntax_uid=JPEGLSLossless,
                     uid_seed="t3")[0],
        write_enhanced_series(make_volume((3, 32, 32)), geometry.with_shape((3, 32, 32)),
                              root / "enhanced.dcm", uid_seed="t4"),
        write_projection(np.linspace(0, 1, 32 * 40).reshape(32, 40), (0.2, 0.2),
                         root / "dx.dcm", uid_seed="t5"),
    ]
    for path in files:
        read_series(path)  # each is valid before truncation
    return files


def _offsets(size: int) -> list[int]:
    """Header, preamble edge, spread through the file, and the last byte."""
    spread = np.linspace(200, size - 2, N_OFFSETS - 4).astype(int).tolist()
    return sorted({0, 64, 132, *spread, size - 1})


def test_b2_truncation_gives_typed_errors(valid_files: list[Path], tmp_path: Path) -> None:
    outcomes: dict[str, int] = {}
    cases = 0
    for source in valid_files:
        data = source.read_bytes()
        offsets = _offsets(len(data))
        assert len(offsets) == N_OFFSETS
        for offset in offsets:
            target = tmp_path / "truncated.dcm"
            target.write_bytes(data[:offset])
            with pytest.raises(MedcamError) as info:
                read_series(target)
            kind = next(c.__name__ for c in (NotDicomError, PixelDataError, MedcamError)
                        if isinstance(info.value, c))
            outcomes[kind] = outcomes.get(kind, 0) + 1
            cases += 1
    assert cases == 100
    assert outcomes.get("NotDicomError", 0) >= 15  # cut in the preamble or meta header
    assert outcomes.get("PixelDataError", 0) >= 20  # cut in the pixel data


def test_b2_pydicom_truncated_file(tmp_path: Path) -> None:
    """pydicom reads MR_truncated.dcm without complaint; the loader must not."""
    shutil.copy(TEST_FILES / "MR_truncated.dcm", tmp_path / "x.dcm")
    ds = pydicom.dcmread(tmp_path / "x.dcm")  # reads fine
    assert "PixelData" in ds
    with pytest.raises(MedcamError, match="truncated"):
        read_series(tmp_path / "x.dcm")


def _huge_header(path: Path) -> Path:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = "2.25.1"
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = CTImageStorage, "2.25.1", "CT"
    ds.SeriesInstanceUID, ds.StudyInstanceUID = "2.25.2", "2.25.3"
    ds.Rows = ds.Columns = 65535
    ds.NumberOfFrames = 1000
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = b"\0" * 64
    ds.save_as(path, enforce_file_format=True)
    return path


def test_b5_huge_declared_size_refused_before_allocation(tmp_path: Path) -> None:
    path = _huge_header(tmp_path / "huge.dcm")
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceededError, match="voxels"):
            read_series(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 1024**2


def test_b5_decoded_bytes_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    geometry = dicom_geometry(*ORIENTATIONS["axial"], (2.0, 0.5, 0.5), (3, 8, 8))
    write_series(make_volume(geometry.shape), geometry, tmp_path, uid_seed="lim")
    monkeypatch.setattr(pixels, "MAX_DECODED_BYTES", 3 * 8 * 8 * 2 - 1)
    with pytest.raises(LimitExceededError, match="bytes"):
        read_series(tmp_path)
    monkeypatch.setattr(pixels, "MAX_DECODED_BYTES", 3 * 8 * 8 * 2)
    assert read_series(tmp_path).array.shape == (3, 8, 8)


def test_b5_file_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    geometry = dicom_geometry(*ORIENTATIONS["axial"], (2.0, 0.5, 0.5), (1, 8, 8))
    path = write_series(make_volume(geometry.shape), geometry, tmp_path, uid_seed="fs")[0]
    monkeypatch.setattr(files, "MAX_FILE_BYTES", path.stat().st_size - 1)
    with pytest.raises(LimitExceededError, match="bytes"):
        read_series(path)


def _cut_before(path: Path, keyword: str) -> None:
    """Truncate a file just before the first occurrence of an element's tag."""
    tag = pydicom.datadict.tag_for_keyword(keyword)
    assert tag is not None
    marker = (tag >> 16).to_bytes(2, "little") + (tag & 0xFFFF).to_bytes(2, "little")
    data = path.read_bytes()
    path.write_bytes(data[:data.index(marker, 132)])


@pytest.mark.parametrize("victim", [0, 5, 9])
def test_truncated_header_in_a_folder_is_not_dropped(tmp_path: Path, victim: int) -> None:
    """A slice whose header lost Rows/Columns makes the series unreadable, even at an edge."""
    geometry = dicom_geometry(*ORIENTATIONS["axial"], (2.0, 0.5, 0.5), (10, 6, 6))
    paths = write_series(make_volume(geometry.shape), geometry, tmp_path, uid_seed="cut")
    _cut_before(paths[victim], "Rows")
    with pytest.raises(PixelDataError, match="1 instance"):
        read_series(tmp_path)
    (ref,) = find_series(tmp_path)
    assert len(ref.paths) == 10
    with pytest.raises(PixelDataError, match="1 instance"):
        read_series(ref)


def test_header_cut_before_series_uid_blocks_folder(tmp_path: Path) -> None:
    geometry = dicom_geometry(*ORIENTATIONS["axial"], (2.0, 0.5, 0.5), (6, 6, 6))
    paths = write_series(make_volume(geometry.shape), geometry, tmp_path, uid_seed="cut2")
    _cut_before(paths[0], "SeriesInstanceUID")
    with pytest.raises(NotDicomError, match="may hold slices"):
        read_series(tmp_path)
    assert [r.n_instances for r in find_series(tmp_path)] == [5]


def test_unparseable_dicom_file_blocks_folder(tmp_path: Path) -> None:
    geometry = dicom_geometry(*ORIENTATIONS["axial"], (2.0, 0.5, 0.5), (6, 6, 6))
    paths = write_series(make_volume(geometry.shape), geometry, tmp_path, uid_seed="bad")
    data = bytearray(paths[0].read_bytes())
    index = data.index(b"UI", 300)  # an explicit VR: make it an unknown one
    data[index:index + 2] = b"Zz"
    paths[0].write_bytes(bytes(data))
    with pytest.raises(MedcamError):
        read_series(paths[0])
    with pytest.raises((NotDicomError, PixelDataError)):
        read_series(tmp_path)
    garbage = tmp_path / "garbage.dcm"
    garbage.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00Zz\x04\x00" + b"\xff" * 64)
    paths[0].unlink()
    with pytest.raises(NotDicomError, match="cannot be parsed"):
        read_series(tmp_path)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_byte_flips_raise_only_medcam_errors(valid_files: list[Path],
                                                    data: st.DataObject) -> None:
    """A short B-3-style fuzz: corrupted valid files give a Series or a MedcamError."""
    source = data.draw(st.sampled_from(valid_files))
    raw = bytearray(source.read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(128, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "fuzzed.dcm"
        target.write_bytes(bytes(raw))
        try:
            read_series(target)
        except MedcamError:
            pass
