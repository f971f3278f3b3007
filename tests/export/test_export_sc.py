from __future__ import annotations

import dataclasses
import hashlib
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGLSLossless,
    RLELossless,
    SecondaryCaptureImageStorage,
)

import medcam
import medcam.export.sc as sc_module
from medcam.errors import ExportError
from medcam.export.colormap import LUT
from medcam.export.render import layout
from medcam.export.sc import method_code, write_secondary_capture
from medcam.export.types import HeatmapInfo
from medcam.export.uids import is_valid_uid
from tests.export._sources import (
    AXIAL,
    INFO,
    SAGITTAL,
    make_projection,
    oblique_direction,
    peaked_cam,
)


def _export(src, info=INFO, out=None, cam=None):
    out = out or src.paths[0].parent.parent / f"out-{src.paths[0].parent.name}"
    cam = peaked_cam(src.series.array.shape) if cam is None else cam
    return write_secondary_capture(src.series, cam, info, out)


def _set_unchecked(ds: Dataset, keyword: str, value: str) -> None:
    tag = pydicom.datadict.tag_for_keyword(keyword)
    vr = pydicom.datadict.dictionary_VR(tag)
    ds[tag] = pydicom.DataElement(tag, vr, value, validation_mode=pydicom.config.IGNORE)


def _read(inst) -> Dataset:
    return pydicom.dcmread(inst.path)


def test_content_contract(volume_factory):  # B-20
    src = volume_factory("ct", n=5, charset="ISO_IR 100", name="Müller^Jürgen")
    series = src.series
    exported = _export(src)
    assert len(exported) == 5
    assert [e.path.name for e in exported] == [f"IM{k:06d}.dcm" for k in range(1, 6)]
    assert sorted(p.name for p in exported[0].path.parent.iterdir()) == [
        e.path.name for e in exported]
    series_uids = {e.series_instance_uid for e in exported}
    assert len(series_uids) == 1
    assert series_uids != {series.series_instance_uid}
    assert len({e.sop_instance_uid for e in exported}) == 5
    for k, inst in enumerate(exported):
        ds = _read(inst)
        assert ds.SOPClassUID == SecondaryCaptureImageStorage
        assert ds.StudyInstanceUID == series.study_instance_uid
        assert ds.SeriesInstanceUID == inst.series_instance_uid
        assert ds.SeriesInstanceUID != series.series_instance_uid
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
        assert ds.InstanceNumber == k + 1 == inst.instance_number
        assert ds.ConversionType == "WSD"
        assert ds.Modality == "CT"
        assert ds.BurnedInAnnotation == "NO"
        assert ds.SeriesNumber == 1003
        assert ds.SeriesDescription == "AI heatmap (not for diagnostic use) gradcam lesion"
        assert ds.Manufacturer == "medcam"
        assert ds.SoftwareVersions == f"medcam {medcam.__version__}"
        assert ds.PhotometricInterpretation == "RGB"
        assert ds.SamplesPerPixel == 3
        assert ds.PlanarConfiguration == 0
        assert ds.BitsAllocated == 8
        assert ds.PixelRepresentation == 0
        lay = layout(256, 256)
        # the image keeps all 256 x 256 pixels; banner and legend are extra rows
        assert lay.banner_bottom > 0 and lay.legend_height > 0
        assert ds.pixel_array.shape == (lay.rows, 256, 3)
        assert lay.legend_top - lay.banner_bottom == 256
        banner = ds.pixel_array[: lay.banner_bottom]
        assert (banner.min(axis=2) > 200).sum() > 300  # burned-in banner glyphs
        top, bottom, _, right = lay.bar
        assert (ds.pixel_array[(top + bottom) // 2, right - 1] == LUT[255]).all()  # legend
        assert len(ds.SourceImageSequence) == 1
        ref = ds.SourceImageSequence[0]
        assert ref.ReferencedSOPInstanceUID == series.sop_instance_uids[k]
        assert ref.ReferencedSOPInstanceUID == inst.source_sop_instance_uid
        assert ref.ReferencedSOPClassUID == series.sop_class_uid
        assert "ReferencedFrameNumber" not in ref
        assert ref.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
        assert ds.DerivationCodeSequence[0].CodeValue == "130403"
        text = ds.DerivationDescription
        for part in ("demo-ct3d", "1.0", "gradcam", "lesion", "0.9700", "ab" * 32,
                     "normalised per volume", "raw maximum 0.0123", "not for diagnostic use"):
            assert part in text
        for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
                   "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName",
                   "StudyDescription", "SpecificCharacterSet"):
            assert ds[kw].value == series.headers[k][kw].value, kw
        assert inst.sha256 == hashlib.sha256(inst.path.read_bytes()).hexdigest()
        assert is_valid_uid(ds.SOPInstanceUID)


@pytest.mark.parametrize(("compression", "syntax"), [
    ("jpeg-ls", JPEGLSLossless), ("rle", RLELossless), (None, ExplicitVRLittleEndian)])
def test_file_format(volume_factory, tmp_path, compression, syntax):
    src = volume_factory("ct", n=2)
    inst = write_secondary_capture(src.series, peaked_cam(src.series.array.shape), INFO,
                                   tmp_path / "o", compression=compression)[0]
    raw = inst.path.read_bytes()
    assert raw[:128] == b"\0" * 128
    assert raw[128:132] == b"DICM"
    ds = _read(inst)
    meta = ds.file_meta
    assert meta.TransferSyntaxUID == syntax
    assert meta.MediaStorageSOPClassUID == SecondaryCaptureImageStorage
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert is_valid_uid(meta.ImplementationClassUID)
    # group length = bytes of group 0002 after the group length element itself
    group_end = raw.index(b"\x08\x00", 132 + 12 + meta.FileMetaInformationGroupLength - 2)
    assert group_end == 132 + 12 + meta.FileMetaInformationGroupLength
    assert not ds.is_implicit_VR
    assert ds.is_little_endian
    assert ds.pixel_array.shape == (layout(256, 256).rows, 256, 3)


def test_lossless_compression_keeps_every_pixel_and_shrinks_the_files(volume_factory, tmp_path):
    src = volume_factory("lossless", n=3)
    cam = peaked_cam(src.series.array.shape)
    outs = {c: write_secondary_capture(src.series, cam, INFO, tmp_path / str(c), compression=c)
            for c in ("jpeg-ls", "rle", None)}
    plain = [_read(i).pixel_array for i in outs[None]]
    for c in ("jpeg-ls", "rle"):
        for inst, expected in zip(outs[c], plain, strict=True):
            assert np.array_equal(_read(inst).pixel_array, expected)
        assert sum(i.size for i in outs[c]) < 0.8 * sum(i.size for i in outs[None])
    assert sum(i.size for i in outs["jpeg-ls"]) < sum(i.size for i in outs["rle"])


def test_geometry_of_an_oblique_upscaled_series(volume_factory):
    src = volume_factory("ob", n=3, rows=32, cols=40, direction=oblique_direction())
    geo = src.series.geometry
    for k, inst in enumerate(_export(src)):
        ds = _read(inst)
        head = src.series.headers[k]
        factor = ds.Columns // 40
        assert factor == 8
        lay = layout(32 * factor, 40 * factor)
        assert ds.Rows == lay.rows == 32 * factor + lay.banner_bottom + lay.legend_height
        assert [float(v) for v in ds.ImageOrientationPatient] == pytest.approx(
            [float(v) for v in head.ImageOrientationPatient], abs=1e-6)
        assert [float(v) for v in ds.PixelSpacing] == pytest.approx(
            [geo.spacing[1] / factor, geo.spacing[2] / factor], rel=1e-9)
        assert ds.FrameOfReferenceUID == head.FrameOfReferenceUID
        assert float(ds.SliceLocation) == float(head.SliceLocation)
        iop = np.array([float(v) for v in ds.ImageOrientationPatient])
        ipp = np.array([float(v) for v in ds.ImagePositionPatient])
        ps = [float(v) for v in ds.PixelSpacing]
        # the centre of source pixel (i, j) is the centre of the enlarged block around
        # it, below the banner band (the plane's origin is the canvas' first pixel)
        for i, j in [(0, 0), (31, 39), (10, 25)]:
            oi = lay.banner_bottom + i * factor + (factor - 1) / 2
            oj = j * factor + (factor - 1) / 2
            out_lps = ipp + oj * ps[1] * iop[:3] + oi * ps[0] * iop[3:]
            assert out_lps == pytest.approx(geo.index_to_lps((k, i, j)), abs=1e-4)
        assert len(ds.PatientOrientation[0]) >= 2  # oblique: several letters
        assert len(ds.PatientOrientation[1]) >= 2


@pytest.mark.parametrize(("direction", "expected"),
                         [(AXIAL, ["L", "P"]), (SAGITTAL, ["P", "F"])])
def test_patient_orientation(volume_factory, direction, expected):
    ds = _read(_export(volume_factory("po", n=2, direction=direction))[0])
    assert list(ds.PatientOrientation) == expected


def test_large_slices_are_not_enlarged(volume_factory):
    src = volume_factory("big", n=1, rows=256, cols=300)
    ds = _read(_export(src)[0])
    lay = layout(256, 300)
    assert (ds.Rows, ds.Columns) == (lay.rows, 300)
    assert [float(v) for v in ds.PixelSpacing] == [0.7, 0.8]
    # the first image row lies banner_bottom rows below the plane's origin
    head = src.series.headers[0]
    col_dir = np.array([float(v) for v in head.ImageOrientationPatient[3:]])
    assert [float(v) for v in ds.ImagePositionPatient] == pytest.approx(list(
        np.array([float(v) for v in head.ImagePositionPatient])
        - lay.banner_bottom * 0.7 * col_dir))


def test_multiframe_source_references_frames(volume_factory):
    src = volume_factory("mf", n=4, multiframe=True)
    exported = _export(src)
    assert len(exported) == 4
    uid = src.series.sop_instance_uids[0]
    for k, inst in enumerate(exported):
        ref = _read(inst).SourceImageSequence[0]
        assert ref.ReferencedSOPInstanceUID == uid
        assert ref.ReferencedFrameNumber == k + 1
        assert inst.source_frame_number == k + 1
    assert len({e.sop_instance_uid for e in exported}) == 4


def test_single_2d_projection_gives_one_instance(projection_factory):
    src = projection_factory("dx", rows=48, cols=40)
    exported = _export(src, cam=np.zeros((1, 48, 40), dtype=np.float32))
    assert len(exported) == 1
    ds = _read(exported[0])
    assert ds.Modality == "DX"
    lay = layout(48 * 7, 40 * 7)
    assert (ds.Rows, ds.Columns) == (lay.rows, 40 * 7)
    assert [float(v) for v in ds.PixelSpacing] == pytest.approx([0.15 / 7, 0.15 / 7])
    assert list(ds.PatientOrientation) == ["L", "F"]
    for kw in ("ImagePositionPatient", "ImageOrientationPatient", "FrameOfReferenceUID"):
        assert kw not in ds
    # MONOCHROME1: high values are dark on screen. The phantom's bright blob (+300)
    # must render darker than the surrounding soft tissue.
    grey = ds.pixel_array[lay.banner_bottom:lay.legend_top].mean(axis=2)
    blob = grey[int(48 * 0.4) * 7, int(40 * 0.6) * 7]
    tissue = grey[int(48 * 0.75) * 7, int(40 * 0.3) * 7]
    assert blob < tissue


def test_laterality_and_lossy_flag_are_carried(projection_factory):
    extra = Dataset()
    extra.ImageLaterality = "L"
    extra.LossyImageCompression = "01"
    src = projection_factory("mg", modality="MG", extra=extra)
    ds = _read(_export(src)[0])
    assert ds.Laterality == "L"
    assert ds.LossyImageCompression == "01"


def test_half_activation_renders_at_half_the_scale(volume_factory):  # B-14
    src = volume_factory("b14", n=3, rows=64, cols=64)
    s = src.series
    dark = dataclasses.replace(s, array=np.full(s.array.shape, -1000, np.float32))
    cam = np.zeros(s.array.shape, dtype=np.float32)
    cam[0], cam[1] = 1.0, 0.5
    out = write_secondary_capture(dark, cam, INFO, src.paths[0].parent.parent / "b14")
    # on a black image a pixel is rint(LUT[v] * 0.5 * v / 255); find the v it shows
    v = np.arange(256)
    predicted = np.rint(LUT.astype(float) * (0.5 * v / 255)[:, None])
    lay = layout(256, 256)
    row = (lay.banner_bottom + lay.legend_top) // 2
    decoded = []
    for inst in out[:2]:
        pixel = _read(inst).pixel_array[row, 128].astype(float)
        decoded.append(int(np.argmin(np.abs(predicted - pixel).sum(axis=1))) / 255)
    assert decoded[1] == pytest.approx(0.5, abs=0.02)  # not re-normalised to 1
    # the dark-red end of the scale blends into near-identical colours: coarse check
    assert decoded[0] > 0.9
    third = _read(out[2]).pixel_array[row, 128]
    assert (third == 0).all()


def test_identical_input_gives_identical_bytes(volume_factory, tmp_path):  # B-16
    src = volume_factory("det", n=3, charset="ISO_IR 192", name="Wang^XiaoDong=王^小東")
    first = _export(src, out=tmp_path / "a")
    second = _export(src, out=tmp_path / "b")
    assert [e.sop_instance_uid for e in first] == [e.sop_instance_uid for e in second]
    for a, b in zip(first, second, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes()
        assert a.sha256 == b.sha256


@pytest.mark.parametrize("change", [
    {"model_name": "other"}, {"model_version": "1.1"}, {"model_sha256": "cd" * 32},
    {"method": "layercam"}, {"target_class": "nodule"}])
def test_uids_change_with_model_method_or_target(volume_factory, tmp_path, change):
    src = volume_factory("uid", n=2)
    base = _export(src, out=tmp_path / "a")
    other = _export(src, info=dataclasses.replace(INFO, **change), out=tmp_path / "b")
    assert base[0].series_instance_uid != other[0].series_instance_uid
    assert not {e.sop_instance_uid for e in base} & {e.sop_instance_uid for e in other}


def test_uids_survive_probability_and_software_changes(volume_factory, tmp_path):
    src = volume_factory("uid2", n=2)
    base = _export(src, out=tmp_path / "a")
    other = _export(src, info=dataclasses.replace(INFO, probability=0.5, software_version="9"),
                    out=tmp_path / "b")
    assert [e.sop_instance_uid for e in base] == [e.sop_instance_uid for e in other]


def test_dates_come_from_info_or_the_source(volume_factory, tmp_path):
    src = volume_factory("dates", n=2)
    ds = _read(_export(src, out=tmp_path / "a")[1])
    for kw in ("ContentDate", "InstanceCreationDate", "DateOfSecondaryCapture", "SeriesDate"):
        assert ds[kw].value == "20240102"
    assert ds.ContentTime == "101600"  # the first source slice's Content Time, for every slice
    assert ds.ContributingEquipmentSequence[0].ContributionDateTime == "20240102101600"
    when = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    ds = _read(_export(src, info=dataclasses.replace(INFO, created=when), out=tmp_path / "b")[0])
    assert (ds.ContentDate, ds.ContentTime) == ("20250304", "050607")
    assert (ds.InstanceCreationDate, ds.InstanceCreationTime) == ("20250304", "050607")


def test_no_patient_data_in_text_or_pixels(volume_factory, tmp_path):
    a = volume_factory("phi", n=2, name="CANARY^PHI^7F3A")
    exported = _export(a, out=tmp_path / "a")
    b = volume_factory("phi2", n=2, name="Other^Person")
    pixels_b = [_read(e).PixelData for e in _export(b, out=tmp_path / "b")]
    for inst, other in zip(exported, pixels_b, strict=True):
        ds = _read(inst)
        for kw in ("DerivationDescription", "SeriesDescription", "ImageComments"):
            assert "CANARY" not in ds[kw].value
            assert "PID-TEST" not in ds[kw].value
            assert "ACC0001" not in ds[kw].value
        # the burned-in pixels do not depend on the patient's name
        assert ds.PixelData == other
    assert "CANARY" not in repr(exported)


def test_invalid_patient_values_are_copied_without_warnings(tmp_path, caplog):
    # B-32 shape: pydicom's validation warnings quote values; the exporter must not
    # decode the patient module, so an invalid birth date passes through silently.
    src = make_projection(tmp_path, "canary", name="CANARY^PHI^7F3A")
    path = src.paths[0]
    ds = pydicom.dcmread(path)
    _set_unchecked(ds, "PatientBirthDate", "19701345")
    ds.save_as(path, enforce_file_format=True)
    header = pydicom.dcmread(path, stop_before_pixels=True)
    series = dataclasses.replace(src.series, headers=(header,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = write_secondary_capture(series, np.zeros(series.array.shape, np.float32), INFO,
                                      tmp_path / "o")
    assert "CANARY" not in caplog.text
    assert "19701345" not in caplog.text
    written = pydicom.dcmread(out[0].path)
    assert written.get_item(0x00100030).value == b"19701345"
    assert written.get_item(0x00100010).value == header.get_item(0x00100010).value


def test_failure_mid_write_leaves_nothing(volume_factory, tmp_path, monkeypatch):
    src = volume_factory("atom", n=4)
    out = tmp_path / "out"
    calls = []
    real = sc_module.write_synced

    def failing(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        real(path, data)

    monkeypatch.setattr(sc_module, "write_synced", failing)
    with pytest.raises(ExportError, match="no output was left behind"):
        _export(src, out=out)
    assert len(calls) == 3
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src-atom"]


def test_interrupt_mid_build_leaves_nothing(volume_factory, tmp_path, monkeypatch):
    src = volume_factory("atom2", n=3)
    real = sc_module._build

    def build(series, info, frame, k, *args):
        if k == 2:
            raise KeyboardInterrupt
        return real(series, info, frame, k, *args)

    monkeypatch.setattr(sc_module, "_build", build)
    with pytest.raises(KeyboardInterrupt):
        _export(src, out=tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src-atom2"]


def test_existing_output_is_refused_and_untouched(volume_factory, tmp_path):
    src = volume_factory("exists", n=2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ExportError, match="exists and is not empty"):
        _export(src, out=out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(_export(src, out=empty)) == 2


@pytest.mark.parametrize("cam", [
    np.zeros((3, 32, 32), np.float32), np.full((4, 32, 32), -0.5, np.float32),
    np.full((4, 32, 32), np.nan, np.float32), np.zeros((4, 32, 32), np.int32)])
def test_bad_heatmaps_are_refused(volume_factory, tmp_path, cam):
    with pytest.raises(ExportError):
        _export(volume_factory("bad"), cam=cam, out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_method_codes():
    assert method_code("gradcam").value == "130403"
    assert method_code("GradCAM++").value == "130403"
    assert method_code("scorecam").value == "130402"
    assert method_code("saliency").value == "130404"
    assert method_code("occlusion") is None


def test_unknown_method_has_no_code(volume_factory, tmp_path):
    info = dataclasses.replace(INFO, method="occlusion")
    ds = _read(_export(volume_factory("occ", n=1), info=info, out=tmp_path / "o")[0])
    assert "DerivationCodeSequence" not in ds


@pytest.mark.parametrize("bad", [
    {"model_sha256": "xyz"}, {"probability": 1.5}, {"probability": float("nan")},
    {"method": ""}, {"target_class": "a\\b"}, {"model_name": "x" * 65},
    {"raw_max": -1.0}, {"created": datetime(2025, 1, 1)}])  # noqa: DTZ001
def test_heatmap_info_is_validated(bad):
    with pytest.raises(ValueError):
        dataclasses.replace(INFO, **bad)


def test_heatmap_info_texts():
    info = HeatmapInfo("demo-ct3d", "1.0", "AB" * 32, "gradcam", "lesion", 0.97)
    assert info.model_sha256 == "ab" * 32
    assert info.model_line == "demo-ct3d 1.0 | gradcam | lesion p=0.97"
    long = dataclasses.replace(info, method="m" * 40, target_class="c" * 40)
    assert len(long.series_description) <= 64
    assert "raw maximum unknown" in info.derivation_description
    assert len(INFO.derivation_description) <= 1024


def test_malformed_source_dates_are_skipped(tmp_path):
    src = make_projection(tmp_path, "baddate")
    header = src.series.headers[0]
    for kw, value in (("StudyDate", "2024-01-02"), ("StudyTime", "10:15"),
                      ("ContentDate", "20240105"), ("ContentTime", "25:00:00")):
        _set_unchecked(header, kw, value)
    header.PixelSpacing = ["0.1", "0"]
    ds = _read(_export(src, out=tmp_path / "o")[0])
    assert ds.ContentDate == "20240105"
    assert "ContentTime" not in ds
    assert "PixelSpacing" not in ds


def test_source_without_study_date_has_no_dates(tmp_path):
    src = make_projection(tmp_path, "nodate")
    header = src.series.headers[0]
    for kw in ("StudyDate", "StudyTime"):
        del header[kw]
    ds = _read(_export(src, out=tmp_path / "o")[0])
    for kw in ("ContentDate", "InstanceCreationDate", "DateOfSecondaryCapture", "SeriesDate"):
        assert kw not in ds

