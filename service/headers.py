"""The few header fields the intake needs, read and validated without patient data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from medcam.export.uids import is_valid_uid
from service.errors import InvalidInstanceError
from service.phi import PHI_KEYWORDS, PhiRegistry

__all__ = ["ReceivedInstance", "InvalidInstanceError", "header_from_dataset", "read_header",
           "valid_uid"]

_TAGS = ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID",
         "Modality", "PixelData", "FloatPixelData", "DoubleFloatPixelData", *PHI_KEYWORDS]


def valid_uid(value: object) -> bool:
    """Whether ``value`` is a syntactically valid DICOM UID (digits and dots, <= 64)."""
    return isinstance(value, str) and is_valid_uid(value)


@dataclass(frozen=True)
class ReceivedInstance:
    """Identity of one received instance (UIDs only)."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    has_pixels: bool


def _uid(ds: Dataset, keyword: str) -> str:
    elem = ds.get_item(keyword)
    value = elem.value if elem is not None else None
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if isinstance(value, str):
        value = value.strip(" \x00")
    if not isinstance(value, str) or not valid_uid(value):
        raise InvalidInstanceError(f"{keyword} is missing or not a valid UID")
    return value


def header_from_dataset(ds: Dataset, registry: PhiRegistry | None = None) -> ReceivedInstance:
    """Validate and extract the identity of ``ds``; remember its patient values.

    Raises:
        InvalidInstanceError: a UID is missing or malformed (``../x``, too long, ...).

    """
    if registry is not None:
        registry.add_dataset(ds)
    has_pixels = any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
    return ReceivedInstance(
        study_instance_uid=_uid(ds, "StudyInstanceUID"),
        series_instance_uid=_uid(ds, "SeriesInstanceUID"),
        sop_instance_uid=_uid(ds, "SOPInstanceUID"),
        sop_class_uid=_uid(ds, "SOPClassUID"),
        has_pixels=has_pixels,
    )


def read_header(path: Path, registry: PhiRegistry | None = None) -> ReceivedInstance:
    """Read the identity of the DICOM file at ``path`` (pixel data is not loaded).

    Raises:
        InvalidInstanceError: not a DICOM file (Part 10), or invalid UIDs.

    """
    try:
        ds = dcmread(path, specific_tags=_TAGS, defer_size=64)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInstanceError("not a readable DICOM Part 10 file") from exc
    return header_from_dataset(ds, registry)
