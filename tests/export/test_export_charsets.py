"""B-20: Specific Character Set carried over, patient names byte-exact.

Runs over every file of pydicom's ``charset_files`` folder (18 entries: 17 DICOM
files and ``FileInfo.txt``, which is asserted to be the only non-DICOM one). The
15 files with a top-level Patient's Name are used as source headers as they are;
the two ``chrSQEncoding`` files hold the name only inside a sequence item, so a
source is built from that item's bytes and effective character set.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_charset_files
from pydicom.errors import InvalidDicomError

from medcam.export.sc import write_secondary_capture
from medcam.geometry import Geometry
from medcam.series.types import Series
from tests.export._sources import INFO, make_projection

CHARSET_FILES = sorted(Path(p) for p in get_charset_files())
PATIENT_NAME = 0x00100010


def test_the_folder_holds_the_expected_files():
    assert len(CHARSET_FILES) == 18
    non_dicom = []
    for path in CHARSET_FILES:
        try:
            pydicom.dcmread(path, stop_before_pixels=True)
        except InvalidDicomError:
            non_dicom.append(path.name)
    assert non_dicom == ["FileInfo.txt"]


def _series_from_header(path: Path) -> Series:
    header = pydicom.dcmread(path, stop_before_pixels=True)
    rows, cols = int(header.Rows), int(header.Columns)
    arr = np.linspace(0, 255, rows * cols, dtype=np.float32).reshape(1, rows, cols)
    geo = Geometry((1, rows, cols), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (0, 0, 1, 0, 1, 0, 1, 0, 0))
    return Series(arr, geo, header.StudyInstanceUID, header.SeriesInstanceUID,
                  header.SOPClassUID, header.Modality, (header.SOPInstanceUID,), (None,),
                  (header,), "MONOCHROME2", None, False, (path,))


def _source(path: Path, root: Path) -> tuple[Series, bytes, object, list[Path]]:
    """The source series, the raw name bytes, the character set, the source files."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    raw = ds.get_item(PATIENT_NAME)
    if raw is not None:
        return _series_from_header(path), raw.value, ds.SpecificCharacterSet, [path]
    item = ds.RequestedProcedureCodeSequence[0]
    charset = item.get("SpecificCharacterSet", ds.SpecificCharacterSet)
    name = item.get_item(PATIENT_NAME).value
    src = make_projection(root, path.stem, charset=charset, name=name,
                          photometric="MONOCHROME2")
    return src.series, name, charset, src.paths


@pytest.mark.parametrize("path", [p for p in CHARSET_FILES if p.suffix == ".dcm"],
                         ids=lambda p: p.stem)
def test_patient_name_bytes_and_charset_survive(path, tmp_path):
    series, name, charset, sources = _source(path, tmp_path)
    assert isinstance(name, bytes)
    assert any(b > 0x7F or b == 0x1B for b in name)  # non-ASCII (8-bit or ISO 2022 escapes)
    exported = write_secondary_capture(series, np.zeros(series.array.shape, np.float32), INFO,
                                       tmp_path / "out")
    assert len(exported) == 1
    out = pydicom.dcmread(exported[0].path)
    assert out.get_item(PATIENT_NAME).value == name
    assert out.SpecificCharacterSet == charset
    assert out.PatientName == series.headers[0].PatientName  # and it decodes alike
    dciodvfy = shutil.which("dciodvfy")
    dcentvfy = shutil.which("dcentvfy")
    assert dciodvfy is not None
    assert dcentvfy is not None
    report = subprocess.run([dciodvfy, str(exported[0].path)], capture_output=True,
                            text=True, errors="replace", check=False)
    assert "Error" not in report.stdout + report.stderr
    ent = subprocess.run([dcentvfy, *map(str, sources), str(exported[0].path)],
                         capture_output=True, text=True, errors="replace", check=False)
    assert ent.returncode == 0, ent.stdout + ent.stderr


@pytest.mark.parametrize("path", [p for p in CHARSET_FILES
                                  if p.suffix == ".dcm" and "SQEncoding" not in p.name],
                         ids=lambda p: p.stem)
def test_decoded_headers_still_give_the_same_name(path, tmp_path):
    # A header whose name was already decoded has lost its raw bytes; the export
    # then writes pydicom's remembered original bytes, which decode to the same name.
    series = _series_from_header(path)
    decoded = series.headers[0].PatientName
    exported = write_secondary_capture(series, np.zeros(series.array.shape, np.float32), INFO,
                                       tmp_path / "out")
    out = pydicom.dcmread(exported[0].path)
    assert out.PatientName == decoded
    assert out.PatientName.components == decoded.components
