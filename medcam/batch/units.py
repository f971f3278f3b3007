"""Units of work of a batch run and the keys that decide whether one is already done.

Three keys, all sha256 hex digests, none holding patient data:

* **listing key** (:func:`listing_key`): what the source's listing says about a
  series without reading pixel data. For a folder archive: the sorted (path
  relative to the archive, size, mtime in ns) of its files; for DICOMweb: the
  sorted SOP Instance UIDs. Cheap to recompute on every run: if it equals the one
  recorded for a done series, the series is not opened again.
* **content key** (:func:`content_key`): the sorted set of the sha256 digests of
  the series' files, so it depends on their bytes only (not on paths, times, the
  archive's location or a byte-identical duplicate copy).
* **job key** (:func:`job_key`): content key + model (name, version, weights
  sha256) + CAM method + output kinds, and, in a routed run, the routing decision
  (rule name and index, model, method, target, outputs: :class:`RouteChoice`), so a
  changed routes file never silently reuses another rule's results. A series is
  "done" for a run when an output folder holding this job key exists; a series
  whose files were touched or copied (new listing key, same content key) is adopted
  without recomputing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medcam.errors import MedcamError, NotAVolumeError
from medcam.export.result_set import ALL_OUTPUTS, parse_outputs
from medcam.export.types import ObjectKind
from medcam.export.uids import safe_folder_name
from medcam.model.spec import ModelSpec

if TYPE_CHECKING:
    from medcam.routing import Decision

__all__ = ["DicomwebLocation", "ModelIdentity", "RouteChoice", "WorkUnit", "content_key",
           "job_key", "listing_key", "reason_code", "sha256_of_file"]

_CHUNK = 1 << 20


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ModelIdentity:
    """What identifies a model in the manifest: name, version and weights sha256."""

    name: str
    version: str
    sha256: str

    @classmethod
    def of(cls, spec: ModelSpec) -> ModelIdentity:
        """The identity of a model spec."""
        return cls(spec.name, spec.version, spec.sha256)

    def to_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


@dataclass(frozen=True)
class RouteChoice:
    """The routing decision of a series to explain (a routed run, ``--routes``).

    Args:
        decision: the ``explain`` decision (:func:`medcam.routing.decide`).
        index: 1-based position of its rule in the routes file.
        model: the identity of the model the rule names.

    """

    decision: Decision
    index: int
    model: ModelIdentity

    def __post_init__(self) -> None:
        if self.decision.action != "explain" or self.index < 1:
            raise ValueError("a route choice is an 'explain' decision of a rule (index >= 1)")

    def method(self, default: str) -> str:
        """The rule's CAM method, else ``default``."""
        return self.decision.method or default

    def outputs(self, default: tuple[ObjectKind, ...]) -> tuple[ObjectKind, ...]:
        """The rule's output kinds, else ``default``."""
        return parse_outputs(self.decision.outputs) if self.decision.outputs else default

    def to_dict(self) -> dict[str, Any]:
        """The manifest form: the decision (rule, action, model, ...) and ``index``."""
        return {**self.decision.describe(), "index": self.index}


@dataclass(frozen=True)
class DicomwebLocation:
    """Where a series of a DICOMweb archive lives (retrieved by the worker)."""

    base_url: str
    study_instance_uid: str
    series_instance_uid: str


@dataclass(frozen=True, repr=False)
class WorkUnit:
    """One image series to explain.

    Args:
        key: unique key of the series in the manifest (its Series Instance UID, or
            a UID derived from its one instance when it has none).
        study_instance_uid: Study Instance UID ("" if absent).
        series_instance_uid: Series Instance UID ("" if absent).
        modality: Modality of its first instance.
        paths: its files (empty for a DICOMweb series until retrieved).
        n_instances: number of distinct SOP Instances.
        listing_key: see the module docstring.
        warnings: notes recorded with its manifest entry (no patient data).
        location: the DICOMweb series, for a DICOMweb archive.
        route: its routing decision in a routed run (``None``: the run's model).

    """

    key: str
    study_instance_uid: str
    series_instance_uid: str
    modality: str
    paths: tuple[Path, ...]
    n_instances: int
    listing_key: str
    warnings: tuple[str, ...] = ()
    location: DicomwebLocation | None = field(default=None)
    route: RouteChoice | None = None

    @property
    def rel_dir(self) -> Path:
        """Output folder relative to the batch output: ``<study>/<series>``."""
        return Path(safe_folder_name(self.study_instance_uid)) / safe_folder_name(self.key)

    def __repr__(self) -> str:
        """UIDs and counts only (paths may carry patient names)."""
        return (f"WorkUnit(key={self.key!r}, modality={self.modality!r}, "
                f"n_instances={self.n_instances})")


def sha256_of_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def listing_key(items: Iterable[object]) -> str:
    """Digest of a series' listing (sorted; see the module docstring)."""
    return _digest(sorted(json.dumps(i, sort_keys=True) for i in items))


def content_key(paths: Iterable[Path]) -> str:
    """Digest of the set of the files' sha256 digests.

    Raises:
        OSError: a file cannot be read.

    """
    return _digest(sorted({sha256_of_file(p) for p in paths}))


def job_key(content: str, model: ModelIdentity, method: str,
            outputs: Sequence[str] = ALL_OUTPUTS, route: RouteChoice | None = None) -> str:
    """Digest of what a done series' outputs depend on.

    That is the input, model, method and output kinds, and in a routed run the
    routing decision.
    """
    parts: dict[str, Any] = {"content": content, "model": model.to_dict(), "method": method,
                             "outputs": list(outputs)}
    if route is not None:
        parts["route"] = route.to_dict()
    return _digest(parts)


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def reason_code(exc: BaseException) -> str:
    """A short machine-readable failure code, e.g. ``not_a_volume.duplicate_position``.

    Args:
        exc: the error a series failed with.

    Returns:
        The snake-case name of a :class:`MedcamError` class without ``_error``
        (plus ``.reason`` for :class:`NotAVolumeError`); ``internal_error`` for any
        other exception.

    """
    if not isinstance(exc, MedcamError):
        return "internal_error"
    code = _CAMEL.sub("_", type(exc).__name__).lower().removesuffix("_error")
    return f"{code}.{exc.reason}" if isinstance(exc, NotAVolumeError) else code


def json_line(value: object) -> bytes:
    """One canonical JSON line (sorted keys, no NaN), newline included."""
    return (json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
            + "\n").encode()
