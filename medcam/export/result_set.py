"""Write the result set of one explained series: every output object, atomically.

The result set follows IHE AI Results (AIR): each kind is a new series in the
source study, with deterministic UIDs (a re-run replaces, never duplicates):

* ``sc``: burned-in Secondary Capture heatmap, one instance per source slice
  (``IM000001.dcm`` ...), for PACS and viewers without the objects below;
* ``pm``: Parametric Map of the map on the source grid (``PM000001.dcm``);
* ``seg``: binary Segmentation of the region at or above a threshold
  (``SEG00001.dcm``; not written when the region is empty, and noted);
* ``sr``: Comprehensive 3D SR, TID 1500 measurement report (``SR000001.dcm``);
* ``ko``: Key Object Selection of the hottest slices (``KO000001.dcm``).

A projection image (DX, CR ...) has no patient geometry, so PM, SEG and SR
(:data:`GEOMETRY_KINDS`) are not written for it and a note says so; asking for
nothing but those raises.

Objects are built in dependency order (PM and SEG before the SR that references
them, the SR before the KOS) into one staging folder that becomes ``folder`` only
once everything is written and flushed (:func:`medcam.durable.atomic_directory`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, get_args

from medcam.durable import atomic_directory
from medcam.errors import ExportError
from medcam.export.types import ExportedObject, HeatmapInfo, ObjectKind

if TYPE_CHECKING:
    from medcam.explanation import Explanation
    from medcam.series.types import Series

__all__ = ["ALL_OUTPUTS", "GEOMETRY_KINDS", "ExportOptions", "ExportedSeries", "export_series",
           "heatmap_info", "parse_outputs"]

#: Every kind, in the order they are written.
ALL_OUTPUTS: tuple[ObjectKind, ...] = ("sc", "pm", "seg", "sr", "ko")
#: Kinds placed in patient coordinates; not written for projection images (DX, CR ...).
GEOMETRY_KINDS: tuple[ObjectKind, ...] = ("pm", "seg", "sr")
_FILE_NAMES: Mapping[str, str] = {"pm": "PM000001.dcm", "seg": "SEG00001.dcm",
                                  "sr": "SR000001.dcm", "ko": "KO000001.dcm"}


def parse_outputs(text: str | tuple[str, ...] | list[str]) -> tuple[ObjectKind, ...]:
    """Parse ``"sc,pm,seg,sr,ko"`` (or ``"all"``) into kinds in writing order.

    Raises:
        ExportError: an unknown kind, or none at all.

    """
    parts = [p.strip().lower() for p in (text.split(",") if isinstance(text, str) else text)]
    parts = [p for p in parts if p]
    if parts == ["all"]:
        return ALL_OUTPUTS
    unknown = sorted(set(parts) - set(get_args(ObjectKind)))
    if unknown or not parts:
        raise ExportError(f"outputs must be a comma-separated subset of "
                          f"{','.join(ALL_OUTPUTS)} (or all), not {text!r}"[:200])
    return tuple(k for k in ALL_OUTPUTS if k in parts)


@dataclass(frozen=True)
class ExportOptions:
    """What to write and how.

    Args:
        outputs: the kinds to write (see the module docstring).
        preview: also write ``preview.png`` (hottest slices) into the folder.
        seg_threshold: SEG region: map values (scale units) at or above it.
        key_slices: how many hottest slices the KOS selects.
        pm_float: store the Parametric Map as float32 scale values, uncompressed
            (default: what OHIF 3.x displays); ``False``: JPEG-LS lossless 16-bit
            integers with a Real World Value Mapping (about 5x smaller, for archives).
        sc_opacity: largest overlay opacity of the Secondary Capture (None: default).
        sc_threshold: values below it are not coloured in the SC (None: default).
        sc_compression: ``"jpeg-ls"``, ``"rle"`` or ``None`` (uncompressed SC).

    """

    outputs: tuple[ObjectKind, ...] = ALL_OUTPUTS
    preview: bool = True
    seg_threshold: float = 0.5
    key_slices: int = 3
    pm_float: bool = True
    sc_opacity: float | None = None
    sc_threshold: float | None = None
    sc_compression: Literal["jpeg-ls", "rle"] | None = "jpeg-ls"

    def __post_init__(self) -> None:
        object.__setattr__(self, "outputs", parse_outputs(tuple(self.outputs)))
        if "sr" in self.outputs and "pm" not in self.outputs:
            raise ExportError("the SR references the Parametric Map: outputs with sr need pm")
        if not 0.0 < float(self.seg_threshold):
            raise ExportError("the SEG threshold must be > 0")
        if int(self.key_slices) < 1:
            raise ExportError("the number of key slices must be >= 1")


@dataclass(frozen=True)
class ExportedSeries:
    """Everything written for one explained source series; the one output record.

    Args:
        series_instance_uid: the source Series Instance UID.
        study_instance_uid: the (shared) Study Instance UID.
        folder: the published folder.
        objects: every DICOM object written, in writing order (SC slices first).
        preview: the preview PNG, if written.
        notes: what was asked for and deliberately not written (no patient data).
        timings: seconds spent per kind (``export.sc`` ...).

    """

    series_instance_uid: str
    study_instance_uid: str
    folder: Path
    objects: tuple[ExportedObject, ...]
    preview: Path | None = None
    notes: tuple[str, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "objects", tuple(self.objects))
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "timings", MappingProxyType(dict(self.timings)))
        for obj in self.objects:
            if obj.path.parent != self.folder:
                raise ValueError("every exported object must lie in the series folder")

    def of_kind(self, kind: ObjectKind) -> tuple[ExportedObject, ...]:
        """The objects of one kind."""
        return tuple(o for o in self.objects if o.kind == kind)

    def series_uid(self, kind: ObjectKind) -> str | None:
        """The output Series Instance UID of ``kind``, if written."""
        objs = self.of_kind(kind)
        return objs[0].series_instance_uid if objs else None

    def describe(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per object (file names relative to the folder)."""
        return [{"kind": o.kind, "file": o.path.name, "sop_class_uid": o.sop_class_uid,
                 "sop_instance_uid": o.sop_instance_uid,
                 "series_instance_uid": o.series_instance_uid, "sha256": o.sha256,
                 "size": o.size, "instance_number": o.instance_number,
                 "source_sop_instance_uid": o.source_sop_instance_uid}
                for o in self.objects]


def heatmap_info(exp: Explanation) -> HeatmapInfo:
    """The provenance every writer records, from an explanation."""
    spec = exp.model
    return HeatmapInfo(model_name=spec.name, model_version=spec.version,
                       model_sha256=spec.sha256, method=exp.method, target_class=exp.target,
                       probability=exp.probability, raw_max=exp.raw_max, scale=exp.scale,
                       target_layers=exp.target_layers)


def export_series(series: Series, exp: Explanation, folder: Path,
                  options: ExportOptions | None = None) -> ExportedSeries:
    """Write the result set of ``exp`` into ``folder`` (created atomically).

    Args:
        series: the source series.
        exp: its explanation.
        folder: the folder to create (it must not exist, or be empty).
        options: what to write (default: the whole set and a preview).

    Returns:
        The record of everything written.

    Raises:
        ExportError: any object could not be built or written; nothing is left.

    """
    import numpy as np

    from medcam.export.preview import preview_png
    from medcam.export.sc import write_secondary_capture

    options = options or ExportOptions()
    folder = Path(folder)
    info = heatmap_info(exp)
    values = exp.values
    finding = exp.model.class_codes.get(exp.target)
    objects: list[ExportedObject] = []
    notes: list[str] = []
    timings: dict[str, float] = {}
    try:
        with atomic_directory(folder) as tmp:
            if "sc" in options.outputs:  # first: it publishes into the still-empty folder
                t0 = time.perf_counter()
                sc = {k: v for k, v in (("opacity", options.sc_opacity),
                                        ("threshold", options.sc_threshold)) if v is not None}
                objects += write_secondary_capture(series, values, info, tmp,
                                                   compression=options.sc_compression, **sc)
                timings["export.sc"] = time.perf_counter() - t0
            objects += _write_derived(series, values, info, tmp, options, notes, timings,
                                      finding)
            if options.preview:
                t0 = time.perf_counter()
                preview_png(series, np.minimum(values, 1.0), tmp / "preview.png", info=info)
                timings["export.preview"] = time.perf_counter() - t0
    except FileExistsError as exc:
        raise ExportError("output folder exists and is not empty; medcam does not "
                          "overwrite an export") from exc
    return ExportedSeries(
        series_instance_uid=series.series_instance_uid,
        study_instance_uid=series.study_instance_uid, folder=folder,
        objects=tuple(replace(o, path=folder / o.path.name) for o in objects),
        preview=folder / "preview.png" if options.preview else None,
        notes=tuple(notes), timings=timings)


def _write_derived(series: Series, values: Any, info: HeatmapInfo, tmp: Path,  # noqa: ANN401
                   options: ExportOptions, notes: list[str], timings: dict[str, float],
                   finding: tuple[str, str, str] | None) -> list[ExportedObject]:
    """Build and write PM, SEG, SR and KOS, in that order (later ones reference earlier)."""
    wanted = [k for k in ("pm", "seg", "sr", "ko") if k in options.outputs]
    if not series.has_patient_geometry:  # a projection: PM, SEG and SR need a patient grid
        skipped = [k for k in wanted if k in GEOMETRY_KINDS]
        wanted = [k for k in wanted if k not in GEOMETRY_KINDS]
        if skipped and not wanted and "sc" not in options.outputs:
            raise ExportError(f"{','.join(skipped)} need a source with patient geometry "
                              "(a projection image has none); choose sc or ko")
        if skipped:
            notes.append(f"{','.join(skipped)}: not written, the source is a projection "
                         "image without patient geometry (Image Position/Orientation)")
    if not wanted:
        return []
    from medcam.export.ko import build_key_objects
    from medcam.export.pm import build_parametric_map
    from medcam.export.seg import build_segmentation
    from medcam.export.sr import build_sr
    from medcam.export.write import write_object

    written: list[ExportedObject] = []
    built: dict[str, Any] = {}
    ds: Any
    import numpy as np

    for kind in wanted:
        t0 = time.perf_counter()
        if kind == "pm":
            ds = build_parametric_map(series, values, info, float_pixels=options.pm_float)
        elif kind == "seg":
            ds = build_segmentation(series, values, info, threshold=options.seg_threshold)
            if ds is None:
                notes.append(f"seg: no voxel at or above {options.seg_threshold:g} on the "
                             "map's scale; no Segmentation written")
        elif kind == "sr":
            s, r, c = (int(i) for i in np.unravel_index(int(np.argmax(values)), values.shape))
            peak = (s, r, c)
            ds = build_sr(series, info, pm=built["pm"], seg=built.get("seg"),
                          peak_index=peak, finding=finding)
        else:
            refs = tuple(built[k] for k in ("pm", "sr") if k in built)
            ds = build_key_objects(series, values, info, k=options.key_slices,
                                   references=refs)
        if ds is not None:
            built[kind] = ds
            written.append(write_object(ds, tmp, _FILE_NAMES[kind], kind))
        timings[f"export.{kind}"] = time.perf_counter() - t0
    return written
