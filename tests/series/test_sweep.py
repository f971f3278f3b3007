"""B-1: every file bundled with pydicom (and highdicom, if its test files are installed).

``read_series(file)`` must return a Series or raise a MedcamError subclass, within
2 s. Files expected to fail are listed below with the error class, the reason code
for NotAVolumeError, and why; they are asserted to fail that way, not skipped.
"""

from __future__ import annotations

import fnmatch
import time
from pathlib import Path

import highdicom
import pytest

from medcam.errors import (
    MedcamError,
    NoImageSeriesError,
    NotAVolumeError,
    NotDicomError,
    PixelDataError,
)
from medcam.series import Series, find_series, read_series

from ._helpers import CHARSET_FILES, PYDICOM_DATA, TEST_FILES

_HIGHDICOM_TEST_FILES = Path(highdicom.__file__).parent.parent / "data" / "test_files"
ROOTS = [TEST_FILES, CHARSET_FILES, _HIGHDICOM_TEST_FILES]
FILES = sorted(p for root in ROOTS if root.is_dir() for p in root.rglob("*") if p.is_file())
SECONDS_PER_FILE = 2.0

_NO_IMAGE = NoImageSeriesError
#: (pattern on the path relative to pydicom/data, error class, NotAVolumeError reason, why)
EXPECTED_FAILURES: list[tuple[str, type[MedcamError], str | None, str]] = [
    ("*.txt", NotDicomError, None, "README/FileInfo text"),
    ("*/TINY_ALPHA/README", NotDicomError, None, "text"),
    ("*.json", NotDicomError, None, "DICOM JSON, not Part 10"),
    ("*.dump", NotDicomError, None, "text dump"),
    ("test_files/crayons.icc", NotDicomError, None, "ICC profile"),
    ("test_files/zipMR.gz", NotDicomError, None, "gzip archive"),
    ("test_files/no_meta.dcm", NotDicomError, None,
     "no preamble and the first bytes are not a group 0008 tag (a stray leading byte)"),
    ("charset_files/chrJapMulti*.dcm", PixelDataError, None, "CR header without Pixel Data"),
    ("charset_files/chrKoreanMulti.dcm", PixelDataError, None, "CR header without Pixel Data"),
    ("charset_files/chrSQEncoding*.dcm", _NO_IMAGE, None, "header fragment, no SOP class"),
    ("test_files/ExplVR_*EndNoMeta.dcm", _NO_IMAGE, None,
     "raw data set (read without preamble) of an RT Beams Treatment Record"),
    ("test_files/JPEG-lossy.dcm", PixelDataError, None,
     "corrupt 12-bit JPEG (invalid SOS parameters); JPGExtended.dcm is its fixed copy"),
    ("test_files/JPEG2000-embedded-sequence-delimiter.dcm", PixelDataError, None,
     "JPEG 2000 codestream with 4 bytes overwritten"),
    ("test_files/MR_truncated.dcm", PixelDataError, None, "pixel data truncated"),
    ("test_files/SC_rgb_rle*_2frame.dcm", NotAVolumeError, "multi_frame_without_positions",
     "2 frames, no positions"),
    ("test_files/examples_ybr_color.dcm", NotAVolumeError, "temporal_frames",
     "ultrasound cine (Frame Increment Pointer = Frame Time)"),
    ("test_files/UN_sequence.dcm", _NO_IMAGE, None, "no SOP class, no image"),
    ("test_files/empty_charset_LEI.dcm", _NO_IMAGE, None, "no SOP class, no image"),
    ("test_files/meta_missing_tsyntax.dcm", _NO_IMAGE, None, "no Rows/Columns"),
    ("test_files/nested_priv_SQ.dcm", _NO_IMAGE, None, "no SOP class, no image"),
    ("test_files/no_meta_group_length.dcm", _NO_IMAGE, None, "no SOP class, no image"),
    ("test_files/priv_SQ.dcm", _NO_IMAGE, None, "no SOP class, no image"),
    ("test_files/badVR.dcm", _NO_IMAGE, None, "RT Dose"),
    ("test_files/rtdose*.dcm", _NO_IMAGE, None, "RT Dose"),
    ("test_files/rtplan*.dcm", _NO_IMAGE, None, "RT Plan"),
    ("test_files/rtstruct.dcm", _NO_IMAGE, None, "RT Structure Set"),
    ("test_files/liver*_1frame.dcm", _NO_IMAGE, None, "Segmentation"),
    ("test_files/reportsi*.dcm", _NO_IMAGE, None, "Structured Report"),
    ("test_files/test-SR.dcm", _NO_IMAGE, None, "Structured Report"),
    ("test_files/waveform_ecg.dcm", _NO_IMAGE, None, "ECG waveform"),
    ("test_files/dicomdirtests/DICOMDIR*", _NO_IMAGE, None, "DICOMDIR"),
    ("test_files/dicomdirtests/TINY_ALPHA/DICOMDIR", _NO_IMAGE, None, "DICOMDIR"),
    ("test_files/dicomdirtests/TINY_ALPHA/PT*/IM*", _NO_IMAGE, None,
     "CT Image Storage headers stripped of Rows/Columns/Pixel Data"),
]


def _relative(path: Path) -> str:
    try:
        return path.relative_to(PYDICOM_DATA).as_posix()
    except ValueError:
        return "highdicom/" + path.relative_to(_HIGHDICOM_TEST_FILES).as_posix()


def _expected(rel: str) -> tuple[type[MedcamError], str | None, str] | None:
    for pattern, error, reason, why in EXPECTED_FAILURES:
        if fnmatch.fnmatch(rel, pattern):
            return error, reason, why
    return None


def test_sweep_covers_the_bundled_files() -> None:
    assert len([f for f in FILES if f.is_relative_to(TEST_FILES)]) >= 170
    assert len([f for f in FILES if f.is_relative_to(CHARSET_FILES)]) >= 18
    relatives = [_relative(f) for f in FILES]
    for pattern, *_ in EXPECTED_FAILURES:
        assert any(fnmatch.fnmatch(r, pattern) for r in relatives), f"stale pattern {pattern}"


@pytest.mark.parametrize("path", FILES, ids=[_relative(f) for f in FILES])
def test_b1_sweep(path: Path) -> None:
    rel = _relative(path)
    expected = _expected(rel)
    start = time.perf_counter()
    outcome: Series | MedcamError
    try:
        outcome = read_series(path)
    except MedcamError as exc:
        outcome = exc
    elapsed = time.perf_counter() - start
    assert elapsed < SECONDS_PER_FILE
    if expected is None:
        assert isinstance(outcome, Series), f"{rel}: {outcome!r}"
        assert outcome.array.shape[0] >= 1
    else:
        error, reason, why = expected
        assert type(outcome) is error, f"{rel} ({why}): got {outcome!r}"
        if reason is not None:
            assert isinstance(outcome, NotAVolumeError)
            assert outcome.reason == reason


def test_pydicom_dicomdir_tree_groups_into_series() -> None:
    refs = find_series(TEST_FILES / "dicomdirtests")
    assert len(refs) == 13
    assert sum(r.n_instances for r in refs) == 31
    by_folder = {r.paths[0].parent.name: r for r in refs if len(r.paths) > 1}
    volume = read_series(by_folder["CT5N"])
    assert volume.array.shape == (5, 16, 16)
    assert volume.geometry.spacing[0] == pytest.approx(2.5)
    with pytest.raises(NotAVolumeError) as info:
        read_series(by_folder["MR700"])
    assert info.value.reason == "mixed_orientation"
