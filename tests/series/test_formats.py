"""Transfer syntaxes, photometric interpretations, multi-frame and projection images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from medcam.errors import NotAVolumeError, UnsupportedTransferSyntaxError
from medcam.series import read_series
from medcam.series.pixels import LUMA_WEIGHTS
from medcam.series.stack import PROJECTION_DIRECTION
from medcam.synthetic.dicom import write_series
from medcam.synthetic.enhanced import write_enhanced_series
from medcam.synthetic.projection import write_projection

from ._helpers import ORIENTATIONS, TEST_FILES, dicom_geometry, make_volume, rewrite


@pytest.mark.parametrize("transfer_syntax_uid", [
    ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, RLELossless, JPEGLSLossless,
    JPEG2000Lossless])
@pytest.mark.parametrize("signed", [False, True], ids=["uint16", "int16"])
def test_written_transfer_syntaxes_round_trip(tmp_path: Path, transfer_syntax_uid: str,
                                             signed: bool) -> None:
    geometry = dicom_geometry(*ORIENTATIONS["oblique"], (1.5, 0.5, 0.8), (3, 32, 40))
    volume = make_volume(geometry.shape, seed=11)
    if signed:
        volume[0, 0, :5] = [-3000, -2049, -1025, 30000, 31743]
    paths = write_series(volume, geometry, tmp_path, transfer_syntax_uid=transfer_syntax_uid,
                         uid_seed=f"ts-{transfer_syntax_uid}-{signed}")
    header = pydicom.dcmread(paths[0], stop_before_pixels=True)
    assert header.file_meta.TransferSyntaxUID == transfer_syntax_uid
    assert header.PixelRepresentation == int(signed)

    series = read_series(tmp_path)

    np.testing.assert_array_equal(series.array, volume.astype(np.float32))
    assert series.geometry.is_close(geometry, atol_mm=1e-6)
    assert series.window == (40.0, 400.0)


@pytest.mark.parametrize("name", [
    "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm"])
def test_pydicom_compressed_mr_matches_uncompressed(name: str) -> None:
    reference = read_series(TEST_FILES / "MR_small.dcm")
    series = read_series(TEST_FILES / name)
    np.testing.assert_array_equal(series.array, reference.array)
    assert series.geometry == reference.geometry


@pytest.mark.parametrize("name",
                         ["SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_rle.dcm", "SC_rgb_jpeg_gdcm.dcm"])
def test_colour_becomes_luminance(name: str) -> None:
    """JPEG baseline, RLE and JPEG lossless colour images are read as BT.601 luma."""
    ds = pydicom.dcmread(TEST_FILES / name)
    rgb = ds.pixel_array.astype(np.float64)
    series = read_series(TEST_FILES / name)
    assert series.photometric_interpretation == "MONOCHROME2"
    assert not series.has_patient_geometry
    np.testing.assert_allclose(series.array[0], rgb @ np.asarray(LUMA_WEIGHTS), atol=1e-3)


def test_jpeg_extended_12_bit() -> None:
    ds = pydicom.dcmread(TEST_FILES / "JPGExtended.dcm")
    series = read_series(TEST_FILES / "JPGExtended.dcm")
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.51"
    np.testing.assert_array_equal(series.array[0], ds.pixel_array.astype(np.float32))
    assert series.frame_numbers == (1,)


def test_ct_with_rescale_matches_hu() -> None:
    ds = pydicom.dcmread(TEST_FILES / "CT_small.dcm")
    series = read_series(TEST_FILES / "CT_small.dcm")
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(series.array[0], expected.astype(np.float32))
    assert series.array.dtype == np.float32
    assert not series.array.flags.writeable


def test_monochrome1_is_kept(tmp_path: Path) -> None:
    geometry = dicom_geometry(*ORIENTATIONS["axial"], (2.0, 0.5, 0.5), (2, 6, 6))
    volume = make_volume(geometry.shape)
    write_series(volume, geometry, tmp_path, uid_seed="m1",
                 extra={"PhotometricInterpretation": "MONOCHROME1"})
    series = read_series(tmp_path)
    assert series.photometric_interpretation == "MONOCHROME1"
    np.testing.assert_array_equal(series.array, volume.astype(np.float32))
    mixed = sorted(tmp_path.iterdir())[0]
    rewrite(mixed, lambda ds: setattr(ds, "PhotometricInterpretation", "MONOCHROME2"))
    with pytest.raises(NotAVolumeError) as info:
        read_series(tmp_path)
    assert info.value.reason == "mixed_photometric_interpretation"


def test_projection_dx(tmp_path: Path) -> None:
    image = np.linspace(0, 1, 20 * 30).reshape(20, 30)
    path = write_projection(image, (0.25, 0.4), tmp_path / "dx.dcm", uid_seed="dx")
    series = read_series(path)
    assert series.modality == "DX"
    assert not series.has_patient_geometry
    assert series.is_2d
    assert series.array.shape == (1, 20, 30)
    assert series.geometry.spacing == (1.0, 0.25, 0.4)
    assert series.geometry.origin == (0.0, 0.0, 0.0)
    assert series.geometry.direction == PROJECTION_DIRECTION
    np.testing.assert_array_equal(series.array[0], np.rint(image * 4095).astype(np.float32))
    assert series.window == (2048.0, 4096.0)
    assert series.frame_numbers == (None,)


def test_projection_without_spacing_is_refused_unless_assumed(tmp_path: Path) -> None:
    path = write_projection(np.zeros((4, 5)), (0.25, 0.4), tmp_path / "dx.dcm", uid_seed="dx0")
    rewrite(path, lambda ds: delattr(ds, "ImagerPixelSpacing"))
    with pytest.raises(NotAVolumeError) as info:
        read_series(path)
    assert info.value.reason == "missing_pixel_spacing"
    series = read_series(path, assume_pixel_spacing=0.7)
    assert series.geometry.spacing == (1.0, 0.7, 0.7)
    assert any("assumed" in w for w in series.warnings)


def test_enhanced_multiframe_sorted_by_per_frame_position(tmp_path: Path) -> None:
    geometry = dicom_geometry(*ORIENTATIONS["oblique"], (2.0, 0.5, 0.8), (5, 8, 6))
    volume = make_volume(geometry.shape, seed=2)
    order = [3, 1, 4, 0, 2]
    path = write_enhanced_series(volume, geometry, tmp_path / "e.dcm", frame_order=order,
                                 uid_seed="enh")
    series = read_series(path)
    np.testing.assert_array_equal(series.array, volume.astype(np.float32))
    assert series.geometry.is_close(geometry, atol_mm=1e-6)
    # slice k is stored in the frame whose position is k: frame numbers follow `order`
    assert series.frame_numbers == tuple(order.index(k) + 1 for k in range(5))
    assert len(set(series.sop_instance_uids)) == 1
    assert all(h is series.headers[0] for h in series.headers)
    assert series.window == (40.0, 400.0)


def test_enhanced_multiframe_compressed(tmp_path: Path) -> None:
    geometry = dicom_geometry(*ORIENTATIONS["sagittal"], (2.0, 0.5, 0.8), (3, 32, 32))
    volume = make_volume(geometry.shape, seed=4)
    path = write_enhanced_series(volume, geometry, tmp_path / "e.dcm",
                                 transfer_syntax_uid=JPEG2000Lossless, uid_seed="enh2")
    series = read_series(path)
    np.testing.assert_array_equal(series.array, volume.astype(np.float32))


def test_classic_multiframe_with_spacing_is_a_volume(tmp_path: Path) -> None:
    """A multi-frame instance without functional groups: IPP + k * spacing * normal."""
    geometry = dicom_geometry(*ORIENTATIONS["coronal"], (3.0, 0.5, 0.8), (4, 8, 6))
    volume = make_volume(geometry.shape, seed=6)
    path = write_enhanced_series(volume, geometry, tmp_path / "e.dcm", uid_seed="cmf")

    def to_classic(ds: pydicom.Dataset) -> None:
        shared = ds.SharedFunctionalGroupsSequence[0]
        ds.ImageOrientationPatient = shared.PlaneOrientationSequence[0].ImageOrientationPatient
        ds.PixelSpacing = shared.PixelMeasuresSequence[0].PixelSpacing
        ds.SpacingBetweenSlices = shared.PixelMeasuresSequence[0].SpacingBetweenSlices
        ipp = ds.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0]
        ds.ImagePositionPatient = ipp.ImagePositionPatient
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        del ds.SharedFunctionalGroupsSequence, ds.PerFrameFunctionalGroupsSequence

    rewrite(path, to_classic)
    series = read_series(path)
    np.testing.assert_array_equal(series.array, volume.astype(np.float32))
    assert series.geometry.is_close(geometry, atol_mm=1e-6)
    rewrite(path, lambda ds: delattr(ds, "SpacingBetweenSlices"))
    rewrite(path, lambda ds: delattr(ds, "SliceThickness") if "SliceThickness" in ds else None)
    with pytest.raises(NotAVolumeError) as info:
        read_series(path)
    assert info.value.reason == "multi_frame_without_positions"


def test_unsupported_transfer_syntax(tmp_path: Path) -> None:
    geometry = dicom_geometry(*ORIENTATIONS["axial"], (2.0, 0.5, 0.5), (1, 4, 4))
    path = write_series(make_volume(geometry.shape), geometry, tmp_path, uid_seed="u")[0]

    def to_mpeg2(ds: pydicom.Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 Main Profile
        ds.PixelData = encapsulate([b"\0" * 16])

    rewrite(path, to_mpeg2)
    with pytest.raises(UnsupportedTransferSyntaxError, match=r"1\.2\.840\.10008\.1\.2\.4\.100"):
        read_series(path)
