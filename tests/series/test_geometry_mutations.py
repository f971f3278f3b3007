"""B-4: geometry mutations of a 20-slice series give NotAVolumeError with a reason; no drops."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from medcam.errors import NotAVolumeError
from medcam.series import Series, read_series
from medcam.series.stack import GEOMETRY_TOLERANCE, SPACING_RELATIVE_TOLERANCE
from medcam.synthetic.dicom import write_series

from ._helpers import CANARY_ID, CANARY_NAME, ORIENTATIONS, dicom_geometry, make_volume, rewrite

N = 20
SPACING = 2.5
VICTIM = 7


def _floats(ds: Dataset, keyword: str) -> np.ndarray:
    return np.asarray([float(v) for v in ds[keyword].value])


def _ds_strings(values: np.ndarray) -> list[str]:
    return [f"{v:.10g}" for v in values]


def _shift(ds: Dataset, offset: np.ndarray) -> None:
    ds.ImagePositionPatient = _ds_strings(_floats(ds, "ImagePositionPatient") + offset)


def _set_raw(ds: Dataset, keyword: str, text: str) -> None:
    """Store raw (possibly invalid) bytes as the value, bypassing pydicom's validation."""
    raw = text.encode("ascii")
    raw += b" " * (len(raw) % 2)
    tag = Tag(keyword)
    ds[tag] = RawDataElement(tag, dictionary_VR(tag), len(raw), raw, 0, False, True)


NORMAL = np.array([0.0, 0.0, 1.0])
ROW_COSINE = np.array([1.0, 0.0, 0.0])
COLUMN_COSINE = np.array([0.0, 1.0, 0.0])

# (name, {slice index or "all": change}, expected reason)
MUTATIONS: list[tuple[str, dict[int | str, Callable[[Dataset], None]], str]] = [
    ("missing_ipp", {VICTIM: lambda ds: delattr(ds, "ImagePositionPatient")}, "missing_position"),
    ("nan_ipp", {VICTIM: lambda ds: _set_raw(ds, "ImagePositionPatient", "nan\\0\\0")},
     "invalid_position"),
    ("text_ipp", {VICTIM: lambda ds: _set_raw(ds, "ImagePositionPatient", "a\\b\\c")},
     "invalid_position"),
    ("two_value_ipp", {VICTIM: lambda ds: _set_raw(ds, "ImagePositionPatient", "1\\2")},
     "invalid_position"),
    ("missing_iop", {VICTIM: lambda ds: delattr(ds, "ImageOrientationPatient")},
     "missing_orientation"),
    ("zero_pixel_spacing", {VICTIM: lambda ds: _set_raw(ds, "PixelSpacing", "0\\0.8")},
     "bad_pixel_spacing"),
    ("negative_pixel_spacing", {"all": lambda ds: _set_raw(ds, "PixelSpacing", "-0.5\\0.8")},
     "bad_pixel_spacing"),
    ("nan_pixel_spacing", {VICTIM: lambda ds: _set_raw(ds, "PixelSpacing", "nan\\0.8")},
     "bad_pixel_spacing"),
    ("missing_pixel_spacing", {VICTIM: lambda ds: delattr(ds, "PixelSpacing")},
     "missing_pixel_spacing"),
    ("mixed_pixel_spacing", {VICTIM: lambda ds: _set_raw(ds, "PixelSpacing", "0.5\\0.81")},
     "mixed_spacing"),
    ("duplicate_position", {VICTIM: lambda ds: _shift(ds, -SPACING * NORMAL)},
     "duplicate_position"),
    ("non_orthonormal_iop",
     {"all": lambda ds: _set_raw(ds, "ImageOrientationPatient", "1\\0\\0\\0.1\\1\\0")},
     "non_orthonormal_orientation"),
    ("non_unit_iop",
     {"all": lambda ds: _set_raw(ds, "ImageOrientationPatient", "1.01\\0\\0\\0\\1\\0")},
     "non_orthonormal_orientation"),
    ("mixed_orientation",
     {VICTIM: lambda ds: _set_raw(ds, "ImageOrientationPatient",
                                  "0.9998476952\\0.0174524064\\0\\-0.0174524064\\0.9998476952\\0")},
     "mixed_orientation"),
    ("gantry_tilt_5deg",
     {k: (lambda ds, k=k: _shift(ds, k * SPACING * np.tan(np.deg2rad(5)) * COLUMN_COSINE))
      for k in range(N)}, "gantry_tilt"),
    ("one_slice_2pct_off", {VICTIM: lambda ds: _shift(ds, 0.02 * SPACING * NORMAL)},
     "irregular_spacing"),
    ("mixed_rows", {VICTIM: lambda ds: setattr(ds, "Rows", 9)}, "mixed_size"),
    ("mixed_frame_of_reference", {VICTIM: lambda ds: setattr(ds, "FrameOfReferenceUID", "1.2.3")},
     "mixed_frame_of_reference"),
]


@pytest.fixture
def series20(tmp_path: Path) -> list[Path]:
    geometry = dicom_geometry(ROW_COSINE, COLUMN_COSINE, (SPACING, 0.5, 0.8), (N, 8, 6))
    return write_series(make_volume(geometry.shape), geometry, tmp_path / "s",
                        patient_name=CANARY_NAME, patient_id=CANARY_ID, uid_seed="b4")


def _apply(paths: list[Path], changes: dict[int | str, Callable[[Dataset], None]]) -> None:
    for key, change in changes.items():
        for k in range(len(paths)) if key == "all" else [key]:
            rewrite(paths[int(k)], change)


def test_unmutated_series_reads(series20: list[Path]) -> None:
    series = read_series(series20[0].parent)
    assert series.array.shape[0] == N


@pytest.mark.parametrize(("name", "changes", "reason"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_b4_mutation_is_refused_with_reason(series20: list[Path], name: str,
                                            changes: dict[int | str, Callable[[Dataset], None]],
                                            reason: str) -> None:
    _apply(series20, changes)
    with pytest.raises(NotAVolumeError) as info:
        read_series(series20[0].parent)
    assert info.value.reason == reason, name
    message = str(info.value)
    assert CANARY_NAME.split("^")[0] not in message
    assert CANARY_ID not in message


def test_missing_slice_is_named_by_position(series20: list[Path]) -> None:
    series20[VICTIM].unlink()
    with pytest.raises(NotAVolumeError) as info:
        read_series(series20[0].parent)
    assert info.value.reason == "missing_slice"
    assert f"slice {VICTIM + 1} of {N} is missing" in str(info.value)


def test_byte_identical_copy_is_deduplicated(series20: list[Path]) -> None:
    shutil.copy(series20[VICTIM], series20[0].parent / "copy.dcm")
    series = read_series(series20[0].parent)
    assert series.array.shape[0] == N
    assert len(set(series.sop_instance_uids)) == N


def test_same_uid_different_content_is_refused(series20: list[Path]) -> None:
    copy = series20[0].parent / "copy.dcm"
    shutil.copy(series20[VICTIM], copy)
    rewrite(copy, lambda ds: setattr(ds, "InstanceNumber", 999))
    with pytest.raises(NotAVolumeError) as info:
        read_series(series20[0].parent)
    assert info.value.reason == "duplicate_sop_instance_uid"


def test_different_instance_at_same_position_is_refused(series20: list[Path]) -> None:
    copy = series20[0].parent / "copy.dcm"
    shutil.copy(series20[VICTIM], copy)
    rewrite(copy, lambda ds: setattr(ds, "SOPInstanceUID", "2.25.1234"))
    with pytest.raises(NotAVolumeError) as info:
        read_series(series20[0].parent)
    assert info.value.reason == "duplicate_position"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(victim=st.integers(0, N - 1),
       along=st.floats(-0.05, 0.05),
       inplane=st.floats(-0.2, 0.2),
       drop=st.booleans())
def test_b4_property_no_silent_drop(victim: int, along: float, inplane: float,
                                    drop: bool) -> None:
    """Move (by fractions of the spacing / mm in-plane) or delete one slice of 20.

    Either every remaining slice comes back in projection order, or NotAVolumeError;
    deviations well inside the tolerances must pass, well outside must fail.
    """
    row, col = ORIENTATIONS["oblique"]
    geometry = dicom_geometry(row, col, (SPACING, 0.5, 0.8), (N, 4, 4))
    spacing_tolerance = SPACING_RELATIVE_TOLERANCE * SPACING  # 0.025 mm
    if drop:
        must_fail, must_pass = 0 < victim < N - 1, victim in (0, N - 1)
    else:
        must_fail = abs(along) * SPACING > 2 * spacing_tolerance or abs(inplane) > 0.1
        must_pass = abs(along) * SPACING < 0.4 * spacing_tolerance \
            and abs(inplane) < 0.5 * GEOMETRY_TOLERANCE * 0.5  # pixel 0.5 mm
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = write_series(make_volume(geometry.shape), geometry, folder, uid_seed="prop")
        if drop:
            paths[victim].unlink()
        else:
            offset = along * SPACING * geometry.slice_normal + inplane * col
            rewrite(paths[victim], lambda ds: _shift(ds, offset))
        outcome: Series | NotAVolumeError
        try:
            outcome = read_series(folder)
        except NotAVolumeError as exc:
            outcome = exc
    if isinstance(outcome, NotAVolumeError):
        assert outcome.reason in {"irregular_spacing", "gantry_tilt", "missing_slice"}
        assert not must_pass, outcome.reason
    else:
        assert not must_fail
        assert outcome.array.shape[0] == (N - 1 if drop else N)
        projections = [float(np.asarray([float(v) for v in h.ImagePositionPatient])
                             @ outcome.geometry.slice_normal) for h in outcome.headers]
        assert projections == sorted(projections)


def test_validation_warnings_do_not_leak_values(series20: list[Path],
                                                caplog: pytest.LogCaptureFixture,
                                                recwarn: pytest.WarningsRecorder) -> None:
    """A malformed date (a PHI-bearing VR) is read without warnings or log lines quoting it."""
    bad_date = "19AB0231"
    for path in series20:
        rewrite(path, lambda ds: _set_raw(ds, "PatientBirthDate", bad_date))
    mode_before = pydicom.config.settings.reading_validation_mode
    with caplog.at_level("DEBUG"):
        series = read_series(series20[0].parent)
        _ = [str(h.PatientBirthDate) for h in series.headers]
    assert pydicom.config.settings.reading_validation_mode == mode_before
    assert bad_date not in caplog.text
    assert not [w for w in recwarn if bad_date in str(w.message)]
