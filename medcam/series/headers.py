"""Header-only pass over files and folders, and the kind of each DICOM header.

:func:`scan` reads every file's header (never its pixel data);
:mod:`medcam.series.scan` groups the image headers into series.

Each DICOM header is one of three kinds:

* ``non_image``: positively identified as not a source image: its SOP Class is
  below one of :data:`NON_SOURCE_SOP_CLASS_ROOTS` (segmentations, RT objects,
  presentation states, structured reports and key-object selections, encapsulated
  documents, waveforms, parametric maps, registrations, surfaces, DICOMDIR) or is
  a standard SOP Class outside the image storage root ``1.2.840.10008.5.1.4.1.1``
  (hanging protocols, colour palettes, implant templates, ...);
* ``image``: otherwise, if it has Rows and Columns (pixel data is checked when the
  series is read);
* ``broken``: otherwise: an image SOP Class, a private one or none, without Rows or
  Columns, which is what a header truncated before the Image Pixel module or a
  stripped file looks like.

Broken headers are kept with the image series of the same Series Instance UID, so
that reading that series fails instead of silently losing a slice; broken headers
without a Series Instance UID, and files that look like DICOM but cannot be parsed,
make ``read_series`` on a folder refuse (see :mod:`medcam.series.scan`).

Which files are DICOM is decided by :func:`medcam.series.files.open_dataset`. In a
folder or a file list, files that are not DICOM are skipped and counted; a single
file given on its own must be DICOM. Entries that exist but cannot be read (a
dangling or looping link, a FIFO or device, a file or folder without read
permission, an empty file) are skipped and counted as *unreadable*, never raised:
they may have been slices, so the series beside them carry a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from medcam.errors import NotDicomError
from medcam.series._pydicom import quiet_pydicom
from medcam.series.files import CorruptDicomError, UnreadableFileError, open_dataset
from medcam.series.walk import FileListing, expand_files, walk_files

__all__ = [
    "NON_SOURCE_SOP_CLASS_ROOTS",
    "FileListing",
    "InstanceHeader",
    "ScanResult",
    "expand_files",
    "header_kind",
    "iter_headers",
    "non_image_reason",
    "scan",
    "walk_files",
]

#: SOP Class UIDs (and every UID below them) that are never source images.
NON_SOURCE_SOP_CLASS_ROOTS: tuple[str, ...] = (
    "1.2.840.10008.1.3.10",  # Media Storage Directory (DICOMDIR)
    "1.2.840.10008.5.1.4.1.1.9",  # waveforms
    "1.2.840.10008.5.1.4.1.1.11",  # presentation states
    "1.2.840.10008.5.1.4.1.1.30",  # Parametric Map
    "1.2.840.10008.5.1.4.1.1.66",  # raw data, registrations, fiducials, SEG, surface SEG
    "1.2.840.10008.5.1.4.1.1.67",  # Real World Value Mapping
    "1.2.840.10008.5.1.4.1.1.68",  # surface scans
    "1.2.840.10008.5.1.4.1.1.88",  # structured reports, Key Object Selection
    "1.2.840.10008.5.1.4.1.1.91",  # microscopy annotations
    "1.2.840.10008.5.1.4.1.1.104",  # encapsulated documents
    "1.2.840.10008.5.1.4.1.1.481",  # RT objects (image, dose, structures, plans, ...)
    "1.2.840.10008.5.1.4.34",  # second-generation RT objects
)

_DICOM_ROOT = "1.2.840.10008."
_IMAGE_STORAGE_ROOT = "1.2.840.10008.5.1.4.1.1."

@dataclass(frozen=True)
class InstanceHeader:
    """The header of one DICOM file (pixel data not read).

    Args:
        path: the file.
        dataset: its data set up to, not including, the pixel data.
        kind: ``"image"``, ``"non_image"`` or ``"broken"`` (see the module docstring).

    """

    path: Path
    dataset: Dataset
    kind: str

    @property
    def series_instance_uid(self) -> str:
        """Series Instance UID, or ``""``."""
        return str(self.dataset.get("SeriesInstanceUID", "") or "")

    @property
    def sop_instance_uid(self) -> str:
        """SOP Instance UID, or ``""``."""
        return str(self.dataset.get("SOPInstanceUID", "") or "")


@dataclass(frozen=True)
class ScanResult:
    """What a header pass found.

    Args:
        headers: one entry per DICOM file that could be parsed, in path order.
        n_files: number of files looked at.
        n_not_dicom: how many of them were not DICOM.
        n_corrupt: how many looked like DICOM but could not be parsed.
        n_unreadable: entries that exist but could not be read (see the module
            docstring); included in ``n_files``.
        n_unreadable_dirs: folders that could not be listed.
        lost: the files counted in ``n_corrupt`` and ``n_unreadable``.

    """

    headers: tuple[InstanceHeader, ...]
    n_files: int
    n_not_dicom: int
    n_corrupt: int = 0
    n_unreadable: int = 0
    n_unreadable_dirs: int = 0
    lost: tuple[Path, ...] = ()

    def count(self, kind: str) -> int:
        """Return the number of headers of one kind (``image``, ``non_image``, ``broken``)."""
        return sum(h.kind == kind for h in self.headers)


def _sop_class_uid(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID")
    if not uid and hasattr(ds, "file_meta"):
        uid = ds.file_meta.get("MediaStorageSOPClassUID")
    return str(uid or "")


def non_image_reason(ds: Dataset) -> str | None:
    """Say why a data set is positively not a source image, or return ``None``.

    Args:
        ds: a header.

    Returns:
        A sentence without patient data, or ``None`` if it may be an image.

    """
    sop_class = _sop_class_uid(ds)
    if any(sop_class == root or sop_class.startswith(root + ".")
           for root in NON_SOURCE_SOP_CLASS_ROOTS):
        return (f"SOP class {sop_class} is not a source image (SR, SEG, RT, presentation "
                "state, document, waveform, DICOMDIR, ...)")
    if sop_class.startswith(_DICOM_ROOT) and not sop_class.startswith(_IMAGE_STORAGE_ROOT):
        return f"SOP class {sop_class} is not an image storage SOP class"
    return None


def header_kind(ds: Dataset) -> str:
    """Classify a header as ``"image"``, ``"non_image"`` or ``"broken"``.

    Args:
        ds: a header.

    Returns:
        The kind (see the module docstring).

    """
    if non_image_reason(ds) is not None:
        return "non_image"
    return "image" if "Rows" in ds and "Columns" in ds else "broken"


def iter_headers(files: Iterable[Path], *,
                 strict: bool = False) -> Iterator[tuple[Path, InstanceHeader | None, str]]:
    """Read the header of each file, one at a time (nothing is kept).

    Args:
        files: the files, e.g. from :func:`expand_files`.
        strict: raise on a file that is not (readable) DICOM instead of reporting it.

    Yields:
        ``(file, header, outcome)``: ``outcome`` is ``"dicom"`` with the header, or
        ``"not_dicom"`` / ``"corrupt"`` (looks like DICOM, cannot be parsed) /
        ``"unreadable"`` (cannot be opened, or empty) with ``None``.

    Raises:
        NotDicomError: ``strict`` and a file is not DICOM.

    """
    for file in files:
        try:
            with quiet_pydicom():
                ds = open_dataset(file, stop_before_pixels=True)
        except CorruptDicomError:
            if strict:
                raise
            yield file, None, "corrupt"
            continue
        except UnreadableFileError:
            if strict:
                raise
            yield file, None, "unreadable"
            continue
        except NotDicomError:
            if strict:
                raise
            yield file, None, "not_dicom"
            continue
        yield file, InstanceHeader(file, ds, header_kind(ds)), "dicom"


def scan(paths: Path | str | Sequence[Path | str], *, strict: bool = False) -> ScanResult:
    """Read the header of every file under ``paths``.

    Args:
        paths: a folder (searched recursively), a file, or a sequence of both.
        strict: raise on a file that is not (readable) DICOM instead of counting it.

    Returns:
        The headers of the DICOM files and counts of what was skipped.

    Raises:
        NotDicomError: a path is missing, or ``strict`` and a file is not DICOM.

    """
    listing = walk_files(paths)
    if strict and listing.unreadable:
        raise UnreadableFileError("the input file cannot be read (a dangling or looping "
                                  "link, or not a regular file)")
    headers: list[InstanceHeader] = []
    lost = list(listing.unreadable)
    outcomes = {"not_dicom": 0, "corrupt": 0, "unreadable": len(listing.unreadable)}
    for file, header, outcome in iter_headers(listing.files, strict=strict):
        if header is not None:
            headers.append(header)
            continue
        outcomes[outcome] += 1
        if outcome != "not_dicom":
            lost.append(file)
    return ScanResult(tuple(headers), len(listing.files) + len(listing.unreadable),
                      outcomes["not_dicom"], outcomes["corrupt"], outcomes["unreadable"],
                      listing.n_unreadable_dirs, tuple(lost))
