"""``manifest.jsonl``: one JSON line per series, journaled while a run goes on.

During a run each finished series is appended as one line and flushed to disk
(``fsync``) before the next is recorded, so a killed run loses at most the line
being written; a torn last line is cut off when the journal is reopened. Replaying
the journal (last line per series wins) gives the state a resumed run starts
from. When a run completes, the manifest is rewritten atomically with exactly one
line per series of the archive, in canonical order (Study, then Series Instance
UID), so an interrupted-and-resumed run and an uninterrupted one end with the same
file once the ``timings`` of each line are dropped (:func:`comparable`).

Lines hold UIDs, codes and numbers, never patient names, IDs, dates or paths.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Self

from medcam.batch.units import ModelIdentity, json_line
from medcam.durable import JsonlJournal, repair_torn_tail

__all__ = ["MANIFEST_SCHEMA", "STATUSES", "TIMING_FIELDS", "Journal", "ManifestEntry",
           "comparable", "read_manifest"]

_LOG = logging.getLogger(__name__)
MANIFEST_SCHEMA = 1
STATUSES = ("done", "failed", "skipped")
#: Fields that differ between two runs over the same archive.
TIMING_FIELDS = ("timings",)


@dataclass(frozen=True)
class ManifestEntry:
    """What became of one series.

    Args:
        key: the series' key (its Series Instance UID, or a derived UID).
        study_instance_uid: Study Instance UID of the source.
        series_instance_uid: Series Instance UID of the source.
        modality: Modality of the source.
        status: ``done``, ``failed`` or ``skipped``.
        model: the model of the series (``None``: a routed run skipped it).
        method: the CAM method of the series.
        n_instances: source instances.
        reason: failure or skip code (e.g. ``not_a_volume.duplicate_position``).
        message: a sentence explaining ``reason``.
        listing_key: see :mod:`medcam.batch.units`.
        content_key: see :mod:`medcam.batch.units` (absent if never read).
        job_key: see :mod:`medcam.batch.units` (done series).
        target: explained class; ``probability`` its probability.
        probabilities: class name -> probability.
        output_series_instance_uid: Series Instance UID of the heatmap series.
        output_dir: folder of the outputs, relative to the batch output.
        files: the output files, relative to the batch output.
        outputs: one dict per object written (kind, file, SOP Class/Instance UID,
            Series Instance UID, sha256, size): see ``ExportedSeries.describe``.
        notes: what was asked for and not written (e.g. an empty SEG region).
        warnings: notes about the input.
        push: outcome of sending the outputs to a PACS (``--push``).
        route: in a routed run (``--routes``), the rule that matched (``rule``,
            1-based ``index``; absent when none did), ``action``, and ``model``,
            ``method``, ``target``, ``outputs`` or the skip ``reason``.
        timings: seconds per step.

    """

    key: str
    study_instance_uid: str
    series_instance_uid: str
    modality: str
    status: str
    model: ModelIdentity | None
    method: str
    n_instances: int = 0
    reason: str | None = None
    message: str | None = None
    listing_key: str | None = None
    content_key: str | None = None
    job_key: str | None = None
    target: str | None = None
    probability: float | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    output_series_instance_uid: str | None = None
    output_dir: str | None = None
    files: tuple[str, ...] = ()
    outputs: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    push: dict[str, Any] | None = None
    route: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"`status` must be one of {', '.join(STATUSES)}")
        if (self.status == "done") != (self.reason is None):
            raise ValueError("a done entry has no reason; a failed or skipped one has one")
        for name in ("files", "outputs", "notes", "warnings"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def sort_key(self) -> tuple[str, str, str]:
        """Canonical order of the manifest."""
        return (self.study_instance_uid, self.series_instance_uid, self.key)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (with ``schema``)."""
        data = asdict(self)
        for name in ("files", "outputs", "notes", "warnings"):
            data[name] = list(getattr(self, name))
        data["schema"] = MANIFEST_SCHEMA
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: not a manifest entry of this schema.

        """
        data = dict(data)
        if data.pop("schema", None) != MANIFEST_SCHEMA:
            raise ValueError("not a manifest line of schema 1")
        try:
            model = data["model"]
            data["model"] = None if model is None else ModelIdentity(**model)
            return cls(**data)
        except (KeyError, TypeError) as exc:
            raise ValueError("malformed manifest line") from exc

    def with_changes(self, **changes: Any) -> Self:  # noqa: ANN401
        """A copy with some fields replaced."""
        return replace(self, **changes)


def comparable(entry: dict[str, Any]) -> dict[str, Any]:
    """A manifest line without the fields that vary between runs (:data:`TIMING_FIELDS`)."""
    return {k: v for k, v in entry.items() if k not in TIMING_FIELDS}


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """The lines of a manifest as dicts (a torn last line is left out)."""
    return [json.loads(line) for line in _complete_lines(Path(path).read_bytes())]


def _complete_lines(data: bytes) -> list[bytes]:
    end = data.rfind(b"\n") + 1
    return [line for line in data[:end].split(b"\n") if line.strip()]


class Journal:
    """The append-only manifest of a run (see the module docstring).

    Args:
        path: ``manifest.jsonl`` in the batch output folder.

    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._journal = JsonlJournal(self.path)

    def replay(self) -> dict[str, ManifestEntry]:
        """Read the journal: the last entry of each series; cuts off a torn last line."""
        if not self.path.exists():
            return {}
        size = self.path.stat().st_size
        data = repair_torn_tail(self.path)
        if len(data) < size:
            _LOG.warning("manifest ends in a torn line (interrupted run); it is dropped")
        state: dict[str, ManifestEntry] = {}
        bad = 0
        for line in _complete_lines(data):
            try:
                entry = ManifestEntry.from_dict(json.loads(line))
            except ValueError:
                bad += 1
                continue
            state[entry.key] = entry
        if bad:
            _LOG.warning("%d manifest lines could not be read; their series are redone", bad)
        return state

    def append(self, entry: ManifestEntry) -> None:
        """Append one line and flush it to disk."""
        self._journal.append(json_line(entry.to_dict()))

    def close(self) -> None:
        """Close the append handle."""
        self._journal.close()

    def compact(self, entries: Iterable[ManifestEntry]) -> None:
        """Replace the journal with one line per entry, in canonical order, atomically."""
        lines = [json_line(e.to_dict()) for e in sorted(entries, key=lambda e: e.sort_key)]
        self._journal.rewrite(b"".join(lines))

