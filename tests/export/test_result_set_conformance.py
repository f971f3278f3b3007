"""dciodvfy, dcentvfy and determinism over the whole result set of representative sources.

Every object (float and 16-bit Parametric Map, SEG, SR, KOS) of every source must
give no dciodvfy Error and only warnings allow-listed in
``dciodvfy_resultset_allowlist.txt``; sources include unusual patient modules
(veterinary, missing Type 2 attributes), character sets and an enhanced multi-frame
source. Building twice gives byte-identical files.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom import dcmwrite
from pydicom.dataset import Dataset

from medcam.export._resultset import object_uids
from medcam.export.pm import build_parametric_map
from medcam.export.types import CamScale, HeatmapInfo
from medcam.series.types import Series
from tests.export._results import INFO_CAL, blob_map, build_set, synthetic_series
from tests.export._sources import SAGITTAL, make_volume, oblique_direction
from tests.validators import allowlist, check_all_used, check_report, dciodvfy, run, tool

ALLOWLIST = Path(__file__).with_name("dciodvfy_resultset_allowlist.txt")
JAPANESE_NAME = (b"\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J="
                 b"\x1b$B$d$^$@\x1b(J^\x1b$BB@O:\x1b(J")
IODS = {"PM.dcm": "ParametricMap", "PMF.dcm": "ParametricMap", "SEG.dcm": "Segmentation",
        "SR.dcm": "Comprehensive3DSR", "KO.dcm": "KeyObjectSelectionDocument"}


def _with_headers(series: Series, edit: Callable[[Dataset], None]) -> Series:
    headers = []
    for header in series.headers:
        h = copy.deepcopy(header)
        edit(h)
        headers.append(h)
    return dataclasses.replace(series, headers=tuple(headers))


def _veterinary(h: Dataset) -> None:
    h.PatientSpeciesDescription = "Canine"
    h.PatientName = "Rex^Smith"
    h.PatientSex = "M"


def _veterinary_coded(h: Dataset) -> None:
    _veterinary(h)
    species, breed = Dataset(), Dataset()
    species.CodeValue, species.CodingSchemeDesignator, species.CodeMeaning = (
        "448771007", "SCT", "Canis lupus familiaris")
    breed.CodeValue, breed.CodingSchemeDesignator, breed.CodeMeaning = (
        "58108001", "SCT", "Golden retriever")
    h.PatientSpeciesCodeSequence, h.PatientBreedCodeSequence = [species], [breed]
    h.PatientBreedDescription = "Golden retriever"
    h.ResponsiblePerson, h.ResponsiblePersonRole = "Smith^John", "OWNER"
    h.ResponsibleOrganization = ""


def _missing_type2(h: Dataset) -> None:
    for kw in ("PatientBirthDate", "PatientSex", "StudyID", "AccessionNumber",
               "ReferringPhysicianName", "StudyDate", "StudyTime", "ContentDate",
               "ContentTime"):
        if kw in h:
            delattr(h, kw)


CASES: dict[str, Callable[[Path, str], Series]] = {
    "ct-axial-latin1": lambda r, t: make_volume(r, t, charset="ISO_IR 100",
                                                name="Müller^Jürgen").series,
    "mr-sagittal-utf8": lambda r, t: make_volume(r, t, modality="MR", direction=SAGITTAL,
                                                 charset="ISO_IR 192",
                                                 name="Wang^XiaoDong=王^小東").series,
    "ct-oblique": lambda r, t: make_volume(r, t, direction=oblique_direction()).series,
    "ct-japanese-iso2022": lambda r, t: make_volume(
        r, t, charset=["ISO 2022 IR 13", "ISO 2022 IR 87"], name=JAPANESE_NAME).series,
    "ct-single-slice": lambda r, t: make_volume(r, t, n=1).series,
    "ct-veterinary": lambda r, t: _with_headers(make_volume(r, t).series, _veterinary),
    "ct-veterinary-coded": lambda r, t: _with_headers(make_volume(r, t).series,
                                                      _veterinary_coded),
    "ct-missing-type2": lambda r, t: _with_headers(make_volume(r, t).series, _missing_type2),
    "ct-synthetic-descending": lambda r, t: synthetic_series(r, t, descending=True),
    "ct-enhanced-multiframe": lambda r, t: synthetic_series(r, t, enhanced=True),
}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, tuple[Series, dict[str, Path]]]:
    root = tmp_path_factory.mktemp("resultset")
    result = {}
    for tag, build in CASES.items():
        series = build(root, tag)
        out = root / f"out-{tag}"
        values = blob_map(series.array.shape, amplitude=1.3)
        built = build_set(series, values, INFO_CAL, out)
        files = {f"{kind.upper()}.dcm": rec.path for kind, rec in built.records.items()}
        from medcam.export.write import write_object

        files["PMF.dcm"] = write_object(build_parametric_map(series, values, INFO_CAL,
                                                             float_pixels=False),
                                        out, "PMF.dcm", "pm").path  # the 16-bit option
        assert set(files) == set(IODS)
        result[tag] = (series, files)
    return result


@pytest.fixture(scope="module")
def reports(outputs) -> dict[tuple[str, str], list[str]]:
    return {(tag, name): dciodvfy(path)
            for tag, (_, files) in outputs.items() for name, path in files.items()}


@pytest.mark.parametrize("case", CASES)
def test_dciodvfy_no_errors_only_allowed_warnings(reports, case):
    entries = allowlist(ALLOWLIST)
    for name, iod in IODS.items():
        check_report(reports[(case, name)], entries, iod, name)


def test_every_allowlist_entry_is_still_needed(reports):
    check_all_used([line for report in reports.values() for line in report],
                   allowlist(ALLOWLIST))


def test_dciodvfy_would_catch_an_error(outputs, tmp_path):
    ds = pydicom.dcmread(outputs["ct-oblique"][1]["PM.dcm"])
    del ds.ContentLabel  # Type 1
    ds.save_as(tmp_path / "broken.dcm")
    _, text = run(tool("dciodvfy"), tmp_path / "broken.dcm")
    assert any(line.startswith("Error") and "ContentLabel" in line.replace(" ", "")
               for line in text.splitlines())


# dcentvfy files Accession Number under the Series IE for the SEG IOD and under the
# Study IE for SR/KOS; it compares no values here (they are equal, checked below).
_DCENTVFY_ALLOWED = re.compile(r"Warning - Different information entities for attribute - "
                               r"Element=<AccessionNumber> IE <Study> versus <Series> .*")


@pytest.mark.parametrize("case", ["ct-axial-latin1", "ct-japanese-iso2022", "ct-oblique",
                                  "ct-synthetic-descending"])
def test_dcentvfy_finds_no_inconsistency(outputs, case):
    series, files = outputs[case]  # sources whose files on disk are the headers used
    _, text = run(tool("dcentvfy"), *series.paths, *files.values())
    lines = [line for line in text.splitlines() if line.strip()]
    assert not [line for line in lines if "Error" in line], text
    assert not [line for line in lines if not _DCENTVFY_ALLOWED.fullmatch(line)], text
    values = {pydicom.dcmread(p).get("AccessionNumber") for p in [*series.paths,
                                                                   *files.values()]}
    assert len(values) == 1


@pytest.mark.parametrize("case", ["ct-veterinary", "ct-veterinary-coded", "ct-missing-type2"])
def test_patient_module_is_copied_and_completed(outputs, case):
    series, files = outputs[case]
    header = series.headers[0]
    for name in IODS:
        ds = pydicom.dcmread(files[name])
        for kw in ("PatientName", "PatientID", "PatientSpeciesDescription",
                   "PatientBreedDescription", "ResponsiblePerson"):
            if kw in header:
                assert ds[kw].value == header[kw].value, (name, kw)
        for kw in ("PatientBirthDate", "PatientSex", "StudyID", "AccessionNumber"):
            assert kw in ds, (name, kw)  # Type 2: present, empty if unknown
        if "PatientSpeciesDescription" in header:
            for kw in ("PatientBreedCodeSequence", "BreedRegistrationSequence",
                       "ResponsiblePerson", "ResponsibleOrganization"):
                assert kw in ds, (name, kw)


def _invalid_dates(h: Dataset) -> None:
    h.PatientBirthDate, h.StudyTime = "19701345", "256000"  # seen in real archives


def test_unparsable_source_dates_are_kept_verbatim(tmp_path):
    """highdicom refuses such sources; every object is still written, values as received."""
    series = _with_headers(make_volume(tmp_path, "bad-dates").series, _invalid_dates)
    built = build_set(series, blob_map(series.array.shape, amplitude=1.3), INFO_CAL,
                      tmp_path / "out")
    assert set(built.records) == {"pm", "seg", "sr", "ko"}
    for kind, rec in built.records.items():
        ds = pydicom.dcmread(rec.path)
        assert (ds.PatientBirthDate, ds.StudyTime) == ("19701345", "256000"), kind


def _bytes(ds: Dataset) -> bytes:
    buffer = BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize("case", ["ct-axial-latin1", "ct-enhanced-multiframe"])
def test_two_builds_give_identical_bytes(outputs, case, tmp_path):
    series, files = outputs[case]
    values = blob_map(series.array.shape, amplitude=1.3)
    again = build_set(series, values, INFO_CAL, tmp_path / "again")
    for kind, rec in again.records.items():
        assert rec.path.read_bytes() == files[f"{kind.upper()}.dcm"].read_bytes(), kind
    ds = pydicom.dcmread(files["PM.dcm"])
    expected = series.headers[0].get("ContentDate") or series.headers[0].get("StudyDate")
    assert ds.ContentDate == expected and ds.InstanceCreationDate == expected


def test_uids_are_per_kind_and_change_with_the_scale(outputs):
    series = outputs["ct-oblique"][0]
    kinds = [object_uids(series, INFO_CAL, kind) for kind in ("pm", "seg", "sr", "ko")]
    assert len({uid for pair in kinds for uid in pair}) == 8
    other = HeatmapInfo(**{**INFO_CAL.__dict__, "scale": CamScale("calibrated", 0.03)})
    assert object_uids(series, other, "pm") != object_uids(series, INFO_CAL, "pm")
    assert object_uids(series, INFO_CAL, "pm-float") != object_uids(series, INFO_CAL, "pm")
    numbers = {int(pydicom.dcmread(p).SeriesNumber) for p in outputs["ct-oblique"][1].values()}
    assert numbers == {2003, 3003, 4003, 5003}


def test_created_overrides_wall_clock(outputs):
    from datetime import UTC, datetime

    series = outputs["ct-missing-type2"][0]  # no Content/Study date in the source
    when = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    info = HeatmapInfo(**{**INFO_CAL.__dict__, "created": when})
    ds = build_parametric_map(series, blob_map(series.array.shape), info)
    assert (ds.ContentDate, ds.ContentTime) == ("20250304", "050607")
    assert (ds.SeriesDate, ds.InstanceCreationDate) == ("20250304", "20250304")
    stamps = [item.ContributionDateTime for item in ds.ContributingEquipmentSequence
              if "ContributionDateTime" in item]
    assert stamps == ["20250304050607"]  # highdicom's own contribution


def test_a_sex_highdicom_refuses_is_copied_not_fatal(outputs, tmp_path):
    series = _with_headers(outputs["ct-oblique"][0], lambda h: setattr(h, "PatientSex", "MN"))
    result = build_set(series, blob_map(series.array.shape), INFO_CAL, tmp_path)
    for rec in result.records.values():
        assert pydicom.dcmread(rec.path).PatientSex == "MN"
    assert outputs["ct-oblique"][0].headers[0].PatientSex == "F"  # source untouched
