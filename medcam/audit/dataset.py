"""Audit datasets: one subfolder per case, each with one image series and optionally a SEG."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medcam.audit.errors import DatasetError
from medcam.audit.seg import SEG_SOP_CLASS_UID
from medcam.errors import MedcamError
from medcam.series.scan import SeriesRef, group_series, scan, series_ref

__all__ = ["Case", "discover_cases"]


@dataclass(frozen=True, repr=False)
class Case:
    """One case of a dataset.

    Attributes:
        case_id: the case folder's name.
        series: the case's image series.
        seg_path: its DICOM SEG, if it has one.

    """

    case_id: str
    series: SeriesRef
    seg_path: Path | None

    def __repr__(self) -> str:
        """Show the case id, series UID and whether a SEG exists (no paths)."""
        return (f"Case({self.case_id!r}, series={self.series.series_instance_uid!r}, "
                f"seg={self.seg_path is not None})")


def _case(folder: Path) -> Case:
    try:
        result = scan(folder)
    except MedcamError as exc:
        raise DatasetError(f"case {folder.name}: {exc}") from exc
    groups = group_series(result.headers)
    if len(groups) != 1:
        raise DatasetError(f"case {folder.name} holds {len(groups)} image series; "
                           "a case needs exactly one")
    segs = sorted(h.path for h in result.headers
                  if str(h.dataset.get("SOPClassUID", "")) == SEG_SOP_CLASS_UID)
    if len(segs) > 1:
        raise DatasetError(f"case {folder.name} holds {len(segs)} DICOM SEG objects; "
                           "a case takes at most one")
    return Case(folder.name, series_ref(groups[0]), segs[0] if segs else None)


def discover_cases(dataset: Path) -> tuple[list[Case], dict[str, str]]:
    """List the cases of a dataset folder (headers only).

    Args:
        dataset: a folder with one subfolder per case (hidden folders are skipped).

    Returns:
        The usable cases, sorted by name, and ``{case_id: error}`` for the others.

    Raises:
        DatasetError: ``dataset`` is not a folder or has no case subfolder.

    """
    root = Path(dataset)
    if not root.is_dir():
        raise DatasetError("the dataset must be a folder with one subfolder per case")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DatasetError("the dataset folder has no case subfolders")
    cases: list[Case] = []
    failed: dict[str, str] = {}
    for folder in folders:
        try:
            cases.append(_case(folder))
        except DatasetError as exc:
            failed[folder.name] = str(exc)
    return cases, failed
