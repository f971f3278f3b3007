"""Issue 12 findings 3, 5, 7 (library side): completeness, unreadable entries, spacing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from medcam.errors import ModelError, NotAVolumeError, NotDicomError, PixelDataError
from medcam.geometry import Geometry
from medcam.model.fit import check_fit, grid_coverage
from medcam.model.grid import model_grid
from medcam.model.load import check_device, resolve_spec
from medcam.series import find_series, read_series
from medcam.series.scan import scan_series
from medcam.staging import staging_dir, sweep_stale
from medcam.synthetic.dicom import write_series
from medcam.synthetic.projection import write_projection

N = 12


def _series(folder: Path, **kwargs: object) -> list[Path]:
    geometry = Geometry((N, 16, 16), (4.0, 2.0, 2.0), (-16.0, -16.0, -22.0),
                        (0, 0, 1, 0, 1, 0, 1, 0, 0))
    volume = np.random.default_rng(0).normal(0, 50, geometry.shape).astype(np.float32)
    paths = write_series(volume, geometry, folder, uid_seed="harden", **kwargs)
    return sorted(paths, key=lambda p: float(
        pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]))


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_end_slice_is_left_out_with_a_warning(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    _truncate(paths[0], 0.8)
    series = read_series(find_series(tmp_path)[0])
    assert series.array.shape[0] == N - 1
    assert any(f"slice 1 of {N}" in w and "left out" in w for w in series.warnings)


def test_truncated_middle_slice_fails_by_position(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    _truncate(paths[5], 0.8)
    with pytest.raises(PixelDataError, match=f"slice 6 of {N} is unreadable"):
        read_series(find_series(tmp_path)[0])


@pytest.mark.parametrize("kind", ["dangling", "header_cut", "empty"])
def test_unreadable_middle_file_is_not_irregular_spacing(tmp_path: Path, kind: str) -> None:
    paths = _series(tmp_path)
    victim = paths[5]
    if kind == "dangling":
        victim.unlink()
        victim.symlink_to(tmp_path / "gone.dcm")
    elif kind == "header_cut":
        _truncate(victim, 0.3)
    else:
        victim.write_bytes(b"")
    with pytest.raises(PixelDataError, match=f"slice 6 of {N} is unreadable"):
        read_series(find_series(tmp_path)[0])


def test_unreadable_end_file_is_a_warning(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    paths[0].write_bytes(b"")
    series = read_series(find_series(tmp_path)[0])
    assert series.array.shape[0] == N - 1
    assert any("could not be read" in w for w in series.warnings)
    assert any("Instance Numbers start at 2" in w for w in series.warnings)


def test_symlink_loop_is_counted_not_raised(tmp_path: Path) -> None:
    _series(tmp_path)
    (tmp_path / "a.dcm").symlink_to(tmp_path / "b.dcm")
    (tmp_path / "b.dcm").symlink_to(tmp_path / "a.dcm")
    refs, result = scan_series(tmp_path)
    assert result.n_unreadable == 2 and refs[0].n_lost == 2
    series = read_series(refs[0])
    assert series.array.shape[0] == N
    assert any("2 file(s)" in w for w in series.warnings)


def test_folder_of_unreadable_entries_is_not_no_image_series(tmp_path: Path) -> None:
    (tmp_path / "x.dcm").symlink_to(tmp_path / "x.dcm")
    with pytest.raises(NotDicomError, match="could not be read"):
        read_series(tmp_path)


def test_zero_rescale_slope_is_a_warning(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    ds = pydicom.dcmread(paths[3])
    ds.RescaleSlope = 0
    ds.save_as(paths[3])
    series = read_series(tmp_path)
    assert f"slice 4 of {N} has Rescale Slope 0: its values are constant" in series.warnings


def test_images_in_acquisition_mismatch_is_a_warning(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    for p in paths[:-1]:
        ds = pydicom.dcmread(p)
        ds.ImagesInAcquisition = N
        ds.save_as(p)
    paths[-1].unlink()
    series = read_series(tmp_path)
    assert any(f"Images in Acquisition is {N}" in w for w in series.warnings)


def test_truncated_duplicate_copy_yields_to_the_complete_one(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    copy = tmp_path / "zz-copy.dcm"
    shutil.copy(paths[4], copy)
    _truncate(copy, 0.8)
    series = read_series(tmp_path)
    assert series.array.shape[0] == N
    assert any("truncated or unreadable copy ignored" in w for w in series.warnings)


def test_drift_of_a_fiftieth_pixel_is_accepted_and_tilt_refused(tmp_path: Path) -> None:
    paths = _series(tmp_path / "mr", modality="MR")
    ds = pydicom.dcmread(paths[1])
    x, y, z = (float(v) for v in ds.ImagePositionPatient)
    ds.ImagePositionPatient = [x + 0.016, y, z]  # the Siemens pair: 0.016 mm, 2 mm pixels
    ds.save_as(paths[1])
    assert read_series(tmp_path / "mr").array.shape[0] == N
    with pytest.raises(NotAVolumeError) as info:
        read_series(tmp_path / "mr", geometry_tolerance=0.001)
    assert info.value.reason == "gantry_tilt"


def _dx(tmp_path: Path, **tags: object) -> Path:
    path = write_projection(np.zeros((8, 10)), (0.2, 0.2), tmp_path / "cr.dcm",
                            uid_seed="cr")
    ds = pydicom.dcmread(path)
    for key, value in tags.items():
        if value is None:
            if key in ds:
                delattr(ds, key)
        else:
            setattr(ds, key, value)
    ds.save_as(path)
    return path


def test_radiograph_spacing_rules(tmp_path: Path) -> None:
    path = _dx(tmp_path, PixelSpacing=[0, 0], ImagerPixelSpacing=[0.2, 0.2],
               EstimatedRadiographicMagnificationFactor=1.25)
    series = read_series(path)
    assert series.geometry.spacing[1:] == pytest.approx((0.16, 0.16))
    assert any("0\\0" in w for w in series.warnings)
    path = _dx(tmp_path, PixelSpacing=None, ImagerPixelSpacing=None)
    with pytest.raises(NotAVolumeError) as info:
        read_series(path)
    assert info.value.reason == "missing_pixel_spacing"
    assert read_series(path, assume_pixel_spacing=0.5).geometry.spacing[1:] == (0.5, 0.5)


def test_model_fit_checks(tmp_path: Path) -> None:
    _series(tmp_path)
    series = read_series(tmp_path)
    spec = resolve_spec("demo-ct3d")
    chest = type(spec)(**{**spec.__dict__, "body_parts": ("chest",)})
    ds = series.headers[0]
    ds.BodyPartExamined = "HEAD"
    with pytest.raises(ModelError, match="Body Part Examined"):
        check_fit(series, chest)
    ds.BodyPartExamined = "CHEST"
    check_fit(series, chest)
    big = type(spec)(**{**spec.__dict__, "min_coverage_mm": 100.0})
    with pytest.raises(ModelError, match="field of view"):
        check_fit(series, big)  # the series covers 48 x 32 x 32 mm


def test_grid_coverage() -> None:
    spec = resolve_spec("demo-ct3d")  # 128^3 at 2.5 mm = 320 mm
    small = Geometry((10, 100, 100), (5.0, 1.0, 1.0), (0, 0, 0), (0, 0, 1, 0, 1, 0, 1, 0, 0))
    assert grid_coverage(small, model_grid(spec, small)) == 1.0
    wide = Geometry((10, 100, 100), (5.0, 6.0, 6.0), (0, 0, 0), (0, 0, 1, 0, 1, 0, 1, 0, 0))
    assert grid_coverage(wide, model_grid(spec, wide)) < 0.9


def test_device_check() -> None:
    import torch

    if torch.cuda.is_available():
        assert check_device("cuda").type == "cuda"
    else:
        with pytest.raises(ModelError, match="CUDA is not available"):
            check_device("cuda")
    with pytest.raises(ModelError, match="not a torch device"):
        check_device("warp-drive")


def test_stale_staging_is_swept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    dead = tmp_path / ".out.staging-999999999"
    live = tmp_path / f".out.staging-{os.getppid()}"
    own = staging_dir(out)
    for folder in (dead, live, own):
        folder.mkdir()
    assert sweep_stale(out) == 2
    assert not dead.exists() and not own.exists() and live.exists()
