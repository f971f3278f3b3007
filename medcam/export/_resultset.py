"""What every object of the DICOM result set shares: identity, numbering, dates, context.

* UIDs: ``derive_uid("<kind>-series" | "<kind>-instance", source series UID, model
  name, version, weights sha256, method, target class, scale mode, scale value)``,
  so a re-run with the same input replaces the earlier objects, and another model,
  method, target or scale gives new ones (the float Parametric Map is kind
  ``pm-float``).
* Series Number: source Series Number + :data:`SERIES_NUMBER_OFFSETS` of the kind
  (the Secondary Capture uses + 1000).
* Series Description: ``"AI heatmap (not for diagnostic use) <label> <method> <class>"``,
  beginning like the Secondary Capture's.
* Dates: Content, Instance Creation and Series Date/Time and highdicom's
  Contribution DateTime are :attr:`HeatmapInfo.created`, else the source's Content
  (else Study) Date/Time; highdicom's wall-clock values are kept only when neither
  exists; the Dimension Organization UID, which highdicom draws at random, is
  derived from the SOP Instance UID. Identical input therefore gives identical
  bytes.
* Patient, study and character-set attributes are copied verbatim from the source
  (:func:`medcam.export._dicom.copy_context`), replacing highdicom's decoded copies;
  missing Type 2 attributes are sent empty, and for a non-human patient (Patient
  Species present) the Type 2C breed, responsible-party and Patient's Sex Neutered
  attributes too.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from datetime import date

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medcam.errors import ExportError
from medcam.export._dicom import copy_context, raw_text
from medcam.export.types import HeatmapInfo
from medcam.export.uids import derive_uid
from medcam.series.types import Series

__all__ = ["KIND_LABELS", "SERIES_NUMBER_OFFSETS", "check_values", "finalize", "for_highdicom",
           "identity", "in_source_order", "object_uids", "series_description", "series_number",
           "software_versions", "source_datasets", "timestamp"]

#: Series Number of each kind = source Series Number + this offset.
SERIES_NUMBER_OFFSETS = {"sc": 1000, "pm": 2000, "seg": 3000, "sr": 4000, "ko": 5000}
#: Word naming each kind in its Series Description.
KIND_LABELS = {"pm": "map", "seg": "region", "sr": "report", "ko": "key images"}
_DA_RE = re.compile(r"\d{8}")
_TM_RE = re.compile(r"\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?")
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
          "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")
#: DICOM TM: HH, HHMM, HHMMSS or HHMMSS.FFFFFF (PS3.5 6.2).
_TM = re.compile(r"([01][0-9]|2[0-3])([0-5][0-9]([0-5][0-9](\.[0-9]{1,6})?)?)?")
_SPECIES = ("PatientSpeciesDescription", "PatientSpeciesCodeSequence")
_VETERINARY_2C = ("PatientBreedDescription", "PatientBreedCodeSequence",
                  "BreedRegistrationSequence", "ResponsiblePerson", "ResponsibleOrganization",
                  "PatientSexNeutered")
_DATES = (("ContentDate", "ContentTime"), ("InstanceCreationDate", "InstanceCreationTime"))


def check_values(series: Series, values: NDArray[np.floating]) -> NDArray[np.float32]:
    """Validate a map in scale units: finite floats >= 0 shaped like ``series.array``.

    Raises:
        ExportError: on another shape, dtype, a non-finite or a negative value.

    """
    heat = np.asarray(values)
    if heat.shape != series.array.shape:
        raise ExportError(f"map shape {heat.shape} differs from series {series.array.shape}")
    if not np.issubdtype(heat.dtype, np.floating) or not np.isfinite(heat).all():
        raise ExportError("map must hold finite floating-point values")
    if heat.size and heat.min() < 0.0:
        raise ExportError("map values must be >= 0 (scale units)")
    return heat.astype(np.float32, copy=False)


def identity(series: Series, info: HeatmapInfo) -> tuple[str, ...]:
    """The parts that name one result set (see the module docstring)."""
    scale = "none" if info.scale is None else repr(info.scale.value)
    return (series.series_instance_uid, info.model_name, info.model_version,
            info.model_sha256, info.method, info.target_class, info.scale_mode, scale)


def object_uids(series: Series, info: HeatmapInfo, kind: str) -> tuple[str, str]:
    """(Series Instance UID, SOP Instance UID) of the ``kind`` object."""
    parts = identity(series, info)
    return derive_uid(f"{kind}-series", *parts), derive_uid(f"{kind}-instance", *parts)


def series_number(header: Dataset, kind: str) -> int:
    """Source Series Number + the kind's offset (source number 0 if unusable)."""
    offset = SERIES_NUMBER_OFFSETS[kind]
    try:
        number = int(header.get("SeriesNumber") or 0)
    except (TypeError, ValueError):
        number = 0
    return (number if 0 <= number < 2**31 - 1 - offset else 0) + offset


def series_description(info: HeatmapInfo, kind: str) -> str:
    """Series Description (LO, at most 64 characters) of the ``kind`` object."""
    text = (f"AI heatmap (not for diagnostic use) {KIND_LABELS[kind]} {info.method} "
            f"{info.target_class}")
    return text[:64].rstrip()


def software_versions(info: HeatmapInfo) -> list[str]:
    """Software Versions: medcam's and the model's."""
    return [f"medcam {info.software_version}"[:64], f"{info.model_name} {info.model_version}"[:64]]


def timestamp(info: HeatmapInfo, header: Dataset,
              missing_time: str = "000000") -> tuple[str, str] | None:
    """(DA, TM): ``info.created``, else the source's well-formed Content or Study date.

    Source values are used only when well formed; a missing or malformed source time
    becomes ``missing_time`` (the SC series leaves it empty, as it always has).
    """
    if info.created is not None:
        return info.created.strftime("%Y%m%d"), info.created.strftime("%H%M%S")
    for date_kw, time_kw in (("ContentDate", "ContentTime"), ("StudyDate", "StudyTime")):
        date, time = raw_text(header, date_kw), raw_text(header, time_kw)
        if _DA_RE.fullmatch(date):
            return date, time if _TM_RE.fullmatch(time) else missing_time
    return None


def _is_da(text: str) -> bool:
    """Whether ``text`` is a DICOM DA (YYYYMMDD) naming a real calendar day."""
    if len(text) != 8 or not text.isdigit():
        return False
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return False
    return True


def _is_tm(text: str) -> bool:
    """Whether ``text`` is a DICOM TM."""
    return _TM.fullmatch(text) is not None


def _unparsable_dates(header: Dataset) -> list[str]:
    """The Type 2 date/time attributes whose value is not a valid DA or TM."""
    checks: dict[str, Callable[[str], bool]] = {
        "PatientBirthDate": _is_da, "StudyDate": _is_da, "StudyTime": _is_tm}
    return [kw for kw, valid in checks.items()
            if (text := raw_text(header, kw)) and not valid(text)]


def for_highdicom(header: Dataset) -> Dataset:
    """Return ``header``, or a copy highdicom accepts.

    The copy has the Type 2 patient/study attributes (empty if missing), no Patient's
    Sex outside M/F/O and no unparsable date or time (real archives hold birth dates
    such as ``19701345``); :func:`finalize` copies the source's own values back.
    """
    missing = [kw for kw in _TYPE2 if kw not in header]
    odd_sex = raw_text(header, "PatientSex") not in ("", "M", "F", "O")
    bad_dates = _unparsable_dates(header)
    if not missing and not odd_sex and not bad_dates:
        return header
    header = copy.deepcopy(header)
    for kw in (*missing, *bad_dates):
        setattr(header, kw, None)
    if odd_sex:
        header.PatientSex = None
    return header


def source_datasets(series: Series) -> list[Dataset]:
    """The distinct source instances (headers) in slice order, as highdicom gets them.

    highdicom refuses sources without Type 2 patient/study attributes or with a
    Patient's Sex outside M/F/O; such headers are passed as completed copies, and
    :func:`finalize` then copies the source's own values back verbatim.
    """
    seen: dict[str, Dataset] = {}
    for uid, header in zip(series.sop_instance_uids, series.headers, strict=True):
        if uid not in seen:
            seen[uid] = for_highdicom(header)
    return list(seen.values())


def in_source_order(series: Series, array: NDArray[np.generic]) -> NDArray[np.generic]:
    """Reorder a (slices, rows, columns) array as highdicom pairs frames with sources.

    highdicom takes frame ``i`` of a derived image from source instance ``i``
    (single-frame sources, :func:`source_datasets` order, i.e. slice order) or from
    frame ``i + 1`` of a single multi-frame source; a multi-frame source's frames
    need not be in slice order.

    Raises:
        ExportError: for a multi-frame source spread over several instances or
            missing frames (not supported).

    """
    frames = series.frame_numbers
    if all(f is None for f in frames):
        return array
    n = len(frames)
    if len(set(series.sop_instance_uids)) != 1 or sorted(f or 0 for f in frames) != list(
            range(1, n + 1)):
        raise ExportError("multi-frame sources are supported only as one instance holding "
                          "every slice once")
    order = np.argsort(np.asarray(frames, dtype=np.int64), kind="stable")
    return array[order]


def _walk(ds: Dataset) -> Iterable[Dataset]:
    yield ds
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                yield from _walk(item)


def finalize(ds: Dataset, series: Series, info: HeatmapInfo, kind: str) -> None:
    """Apply the shared conventions of the module docstring to a built object.

    PM and SEG (General Series module) also get Series Date/Time. The PM sends
    Laterality (Type 2C) empty unless the source has L or R, as medcam cannot know
    whether the body part is paired (dciodvfy requires it there); the SEG leaves
    it out (dciodvfy reports its condition unsatisfied there).

    Args:
        ds: the highdicom object (modified in place).
        series: the source series.
        info: what produced the map.
        kind: ``"pm"``, ``"seg"``, ``"sr"`` or ``"ko"``.

    """
    header = series.headers[0]
    stamp = timestamp(info, header)
    if stamp is not None:
        pairs = _DATES + ((("SeriesDate", "SeriesTime"),) if kind in ("pm", "seg") else ())
        for date_kw, time_kw in pairs:
            setattr(ds, date_kw, stamp[0])
            setattr(ds, time_kw, stamp[1])
        for item in _walk(ds):
            if "ContributionDateTime" in item:
                item.ContributionDateTime = stamp[0] + stamp[1]
    for item in _walk(ds):  # highdicom draws it at random
        if "DimensionOrganizationUID" in item:
            item.DimensionOrganizationUID = derive_uid("dimension-organization",
                                                       str(ds.SOPInstanceUID))
    copy_context(ds, header)
    for kw in _TYPE2:
        if kw not in ds:
            setattr(ds, kw, None)
    if any(kw in header for kw in _SPECIES):
        for kw in ("BreedRegistrationSequence", "PatientSexNeutered"):  # not in copy_context
            if kw in header:
                ds[kw] = copy.deepcopy(header[kw])
        for kw in _VETERINARY_2C:
            if kw not in ds:
                setattr(ds, kw, Sequence() if kw.endswith("Sequence") else None)
    if kind == "pm":
        laterality = header.get("Laterality")
        ds.Laterality = laterality if laterality in ("L", "R") else None
    ds.Manufacturer = "medcam"
    ds.SeriesDescription = series_description(info, kind)
