"""Open one file as DICOM, Part 10 or raw data set, and parse it completely.

A file whose bytes 128-131 are ``DICM`` is read as DICOM Part 10. A file without
that prefix is tried (``force=True``) only if its first two bytes are the group
0x0002 or 0x0008 of a first data element, little or big endian (a raw data set as
old archives write them), and the result must hold a SOP Class or SOP Instance UID;
anything else is not DICOM. pydicom's ``force=True`` is never applied to arbitrary
bytes.

pydicom converts element values lazily, on first access, so a corrupt element
would raise later from anywhere. :func:`open_dataset` converts every element at
once (recursively through sequences): a file that looks like DICOM but holds an
element that cannot be parsed raises :class:`CorruptDicomError`. The numeric
attributes in :data:`CHECKED_LATER` are left unconverted instead, because the
geometry and pixel code reads them through typed getters that turn a malformed
value into a specific error (for example ``NotAVolumeError("invalid_position")``).
"""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from medcam.errors import LimitExceededError, NotDicomError, PixelDataError
from medcam.series._pydicom import PYDICOM_ERRORS

__all__ = ["CHECKED_LATER", "MAX_FILE_BYTES", "CorruptDicomError", "UnreadableFileError",
           "open_dataset"]

#: Largest file accepted for a full read, in bytes (checked before reading).
MAX_FILE_BYTES = 2 * 1024**3

#: Attributes whose malformed values are diagnosed later by the typed getters.
CHECKED_LATER = frozenset({
    "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "ImagerPixelSpacing",
    "SliceThickness", "SpacingBetweenSlices", "RescaleSlope", "RescaleIntercept",
    "WindowCenter", "WindowWidth", "NumberOfFrames", "Rows", "Columns", "SamplesPerPixel",
    "BitsAllocated",
})

_RAW_GROUPS = (0x0002, 0x0008)


class CorruptDicomError(NotDicomError):
    """A file looks like DICOM (``DICM`` prefix or raw data set) but cannot be parsed."""


class UnreadableFileError(NotDicomError):
    """A file exists but cannot be read: permission, a dangling or looping link, no bytes.

    Such a file may have been a slice of a series, so it is counted apart from files
    that are readable but not DICOM.
    """


def _looks_like_raw_dataset(prefix: bytes) -> bool:
    if len(prefix) < 8:
        return False
    little = int.from_bytes(prefix[0:2], "little")
    big = int.from_bytes(prefix[0:2], "big")
    return little in _RAW_GROUPS or big in _RAW_GROUPS


def _convert_all(ds: Dataset) -> None:
    """Convert every raw element now, recursively; see the module docstring."""
    for tag in list(ds.keys()):
        try:
            elem = ds[tag]
            items = list(elem.value) if elem.VR == "SQ" else []
        except PYDICOM_ERRORS as exc:
            if keyword_for_tag(tag) in CHECKED_LATER:
                continue
            raise CorruptDicomError(f"a file holds a malformed element {tag}") from exc
        for item in items:
            _convert_all(item)


def open_dataset(path: Path, *, stop_before_pixels: bool) -> Dataset:
    """Read one DICOM file, Part 10 or raw data set (see the module docstring).

    Args:
        path: the file.
        stop_before_pixels: read the header only.

    Returns:
        The data set, every element parsed; a raw data set gets the Transfer Syntax
        UID it was read with.

    Raises:
        UnreadableFileError: the file cannot be opened or is empty.
        NotDicomError: the file does not look like DICOM.
        CorruptDicomError: it looks like DICOM but cannot be parsed.
        LimitExceededError: a full read (not ``stop_before_pixels``) of a file larger
            than :data:`MAX_FILE_BYTES`; header reads stop before the pixel data.
        PixelDataError: the file ends inside an encapsulated pixel data element.

    """
    try:
        size = path.stat().st_size
        if size == 0:
            raise UnreadableFileError("a file is empty (0 bytes)")
        if size > MAX_FILE_BYTES and not stop_before_pixels:
            raise LimitExceededError(
                f"a file holds {size} bytes, more than the limit of {MAX_FILE_BYTES}")
        with open(path, "rb") as fp:
            prefix = fp.read(132)
            fp.seek(0)
            part10 = prefix[128:132] == b"DICM"
            if not part10 and not _looks_like_raw_dataset(prefix):
                raise NotDicomError("a file is not DICOM (no 'DICM' prefix at byte 128)")
    except OSError as exc:
        raise UnreadableFileError("a file could not be opened") from exc
    try:
        with open(path, "rb") as fp:
            ds = dcmread(fp, stop_before_pixels=stop_before_pixels, force=not part10)
            # pydicom skips over encapsulated items by seeking; a position past the end
            # means the file ends inside them (e.g. a cut sequence delimiter).
            overrun = fp.tell() > size
        _convert_all(ds.file_meta)
        _convert_all(ds)
    except CorruptDicomError as exc:
        if part10:
            raise
        raise NotDicomError("a file without the 'DICM' prefix is not a DICOM data set") from exc
    except PYDICOM_ERRORS as exc:
        error = CorruptDicomError if part10 else NotDicomError
        raise error(f"a file could not be parsed as DICOM ({type(exc).__name__})") from exc
    if overrun:
        raise PixelDataError("a file ends before its last data element does (truncated)")
    if len(ds) == 0:
        raise CorruptDicomError("a file holds DICOM file meta information but no data set")
    if not part10:
        if "SOPClassUID" not in ds and "SOPInstanceUID" not in ds:
            raise NotDicomError("a file without the 'DICM' prefix is not a DICOM data set")
        if "TransferSyntaxUID" not in ds.file_meta:
            implicit, little = ds.original_encoding
            ds.file_meta.TransferSyntaxUID = (
                ImplicitVRLittleEndian if implicit
                else ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    return ds
