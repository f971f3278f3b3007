"""B-17/B-18/B-19: validators over the output of representative inputs.

dciodvfy must report no Error and only allow-listed warnings
(``dciodvfy_allowlist.txt``); dcentvfy must find no patient/study inconsistency
between sources and outputs; dcmdump must parse every output; pydicom must read,
write and re-read each output unchanged. The tools are required: a missing tool
fails the tests rather than skipping them.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import DigitalMammographyXRayImageStorageForPresentation

from medcam.export.sc import write_secondary_capture
from tests.export._sources import (
    INFO,
    SAGITTAL,
    Source,
    make_projection,
    make_volume,
    oblique_direction,
    peaked_cam,
)
from tests.validators import allowlist, check_all_used, check_report, dciodvfy, run, tool

ALLOWLIST = Path(__file__).with_name("dciodvfy_allowlist.txt")
JAPANESE_NAME = (b"\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J="
                 b"\x1b$B$d$^$@\x1b(J^\x1b$B$?$m$&\x1b(J")  # pydicom chrH32.dcm


def _mammo(root: Path, tag: str) -> Source:
    extra = Dataset()
    extra.ImageLaterality = "L"
    extra.LossyImageCompression = "01"  # e.g. a JPEG-LS near-lossless source
    return make_projection(root, tag, modality="MG", photometric="MONOCHROME2",
                           sop_class=DigitalMammographyXRayImageStorageForPresentation,
                           extra=extra, rows=64, cols=52)


CASES: dict[str, Callable[[Path, str], Source]] = {
    "ct-axial-latin1": lambda r, t: make_volume(r, t, charset="ISO_IR 100",
                                                name="Müller^Jürgen"),
    "mr-sagittal-utf8": lambda r, t: make_volume(r, t, modality="MR", direction=SAGITTAL,
                                                 charset="ISO_IR 192",
                                                 name="Wang^XiaoDong=王^小東"),
    "ct-oblique": lambda r, t: make_volume(r, t, direction=oblique_direction()),
    "dx-monochrome1": lambda r, t: make_projection(r, t, charset="ISO_IR 100",
                                                   name="Ænes^Åse"),
    "ct-multiframe": lambda r, t: make_volume(r, t, multiframe=True),
    "ct-tiny-nonsquare": lambda r, t: make_volume(r, t, n=2, rows=12, cols=20),
    "ct-no-window-no-charset": lambda r, t: make_volume(r, t, window=None),
    "ct-japanese-iso2022": lambda r, t: make_volume(
        r, t, charset=["ISO 2022 IR 13", "ISO 2022 IR 87"], name=JAPANESE_NAME),
    "mg-laterality-lossy": _mammo,
    "ct-single-slice": lambda r, t: make_volume(r, t, n=1),
    "dx-imager-pixel-spacing": lambda r, t: make_projection(
        r, t, spacing_keyword="ImagerPixelSpacing"),
    "ct-rle": lambda r, t: make_volume(r, t, n=2),
    "ct-uncompressed": lambda r, t: make_volume(r, t, n=2),
}
#: Secondary Capture transfer syntax per case (default JPEG-LS Lossless).
COMPRESSION = {"ct-rle": "rle", "ct-uncompressed": None}


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, tuple[Source, list[Path]]]:
    root = tmp_path_factory.mktemp("conformance")
    result = {}
    for tag, build in CASES.items():
        src = build(root, tag)
        out = write_secondary_capture(src.series, peaked_cam(src.series.array.shape), INFO,
                                      root / f"out-{tag}",
                                      compression=COMPRESSION.get(tag, "jpeg-ls"))
        result[tag] = (src, [e.path for e in out])
    return result


@pytest.fixture(scope="module")
def dciodvfy_reports(exports) -> dict[str, list[str]]:
    return {tag: [f"{path.name}: {line}" for path in paths for line in dciodvfy(path)]
            for tag, (_, paths) in exports.items()}


@pytest.mark.parametrize("case", CASES)
def test_dciodvfy_has_no_errors_and_only_allowed_warnings(dciodvfy_reports, case):
    lines = [line.split(": ", 1)[1] for line in dciodvfy_reports[case]]
    check_report(lines, allowlist(ALLOWLIST), "SCImage")  # the IOD dciodvfy recognised


def test_every_allowlist_entry_is_still_needed(dciodvfy_reports):
    lines = [line.split(": ", 1)[1] for report in dciodvfy_reports.values() for line in report]
    check_all_used(lines, allowlist(ALLOWLIST))


def test_dciodvfy_would_catch_an_error(exports, tmp_path):
    path = tmp_path / "broken.dcm"
    ds = pydicom.dcmread(exports["ct-oblique"][1][0])
    del ds.ConversionType  # Type 1 in the SC Equipment module
    ds.save_as(path)
    _, text = run(tool("dciodvfy"), path)
    assert any(line.startswith("Error") and "ConversionType" in line.replace(" ", "")
               for line in text.splitlines())


@pytest.mark.parametrize("case", CASES)
def test_dcentvfy_finds_no_inconsistency(exports, case):
    src, paths = exports[case]
    rc, text = run(tool("dcentvfy"), *src.paths, *paths)
    assert rc == 0, text
    assert "Error" not in text
    assert "Warning" not in text


def test_dcentvfy_would_catch_an_inconsistency(exports, tmp_path):
    src, paths = exports["ct-axial-latin1"]
    ds = pydicom.dcmread(paths[0])
    ds.PatientID = "SOMEONE-ELSE"
    ds.save_as(tmp_path / "bad.dcm")
    rc, text = run(tool("dcentvfy"), *src.paths, tmp_path / "bad.dcm")
    assert rc != 0
    assert "Error" in text


@pytest.mark.parametrize("case", CASES)
def test_dcmdump_parses_every_output(exports, case):
    dcmdump = tool("dcmdump")
    for path in exports[case][1]:
        rc, text = run(dcmdump, path)
        assert rc == 0, text
        assert not [line for line in text.splitlines() if line.startswith(("E:", "W:"))]
        assert "SecondaryCaptureImageStorage" in text


@pytest.mark.parametrize("case", CASES)
def test_pydicom_read_write_read_is_stable(exports, case):
    for path in exports[case][1]:
        first = pydicom.dcmread(path)
        buffer = BytesIO()
        first.save_as(buffer, enforce_file_format=True)
        buffer.seek(0)
        second = pydicom.dcmread(buffer)
        assert second == first
        assert buffer.getvalue() == path.read_bytes()
