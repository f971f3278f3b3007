"""Writing one result-set object: DICOM file format, durable bytes, the record."""

from __future__ import annotations

import hashlib
from io import BytesIO
from pathlib import Path

from pydicom import dcmwrite
from pydicom.dataset import Dataset

from medcam.durable import write_synced
from medcam.errors import ExportError
from medcam.export.types import ExportedObject, ObjectKind

__all__ = ["write_object"]


def write_object(ds: Dataset, folder: Path, name: str, kind: ObjectKind, *,
                 final_folder: Path | None = None) -> ExportedObject:
    """Encode ``ds`` in the DICOM file format (PS3.10) and write it durably.

    The bytes are written to a new file, flushed and fsynced; the folder entry is
    left to the caller (e.g. :func:`medcam.durable.atomic_directory`).

    Args:
        ds: the object (a highdicom SOP instance or any dataset with file meta).
        folder: the existing folder to write into.
        name: file name, e.g. ``"PM000001.dcm"``.
        kind: what the object is (``"pm"``, ``"seg"``, ``"sr"``, ``"ko"``, ``"sc"``).
        final_folder: where the file will lie once ``folder`` is published
            (recorded in the returned path); ``folder`` if ``None``.

    Returns:
        The record with sha256 and size of the written bytes.

    Raises:
        ExportError: if encoding or writing fails (e.g. the file exists).

    """
    buffer = BytesIO()
    try:
        dcmwrite(buffer, ds, enforce_file_format=True)
        data = buffer.getvalue()
        write_synced(Path(folder) / name, data)
    except FileExistsError as exc:
        raise ExportError(f"{kind} output file exists; medcam does not overwrite it") from exc
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise ExportError(f"{kind} export failed while writing ({type(exc).__name__})") from exc
    return ExportedObject(
        kind=kind, sop_class_uid=str(ds.SOPClassUID), sop_instance_uid=str(ds.SOPInstanceUID),
        series_instance_uid=str(ds.SeriesInstanceUID),
        path=Path(final_folder if final_folder is not None else folder) / name,
        sha256=hashlib.sha256(data).hexdigest(), size=len(data),
        instance_number=int(ds.get("InstanceNumber") or 1))
