"""Route a series: the facts a rule can test, read from one header, and the decision.

Only the first instance's header is read (no pixel data, no model): routing an
archive costs one header per series, so ``medcam routes check`` is a dry run that
takes the same decisions a real run takes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pydicom
from pydicom.errors import InvalidDicomError

from medcam.errors import MedcamError, RoutesError
from medcam.routing.rules import Routes, Rule

if TYPE_CHECKING:
    from medcam.model.spec import ModelSpec
    from medcam.series.scan import SeriesRef

__all__ = ["Decision", "SeriesFacts", "check_models", "decide", "facts_of", "route"]

Action = Literal["explain", "skip"]
SpecLookup = Callable[[str], "ModelSpec"]


@dataclass(frozen=True)
class SeriesFacts:
    """What rules test, from the series' first header (no patient data)."""

    modality: str
    body_part: str = ""
    sop_class_uid: str = ""
    series_description: str = ""
    protocol_name: str = ""
    image_type: tuple[str, ...] = ()
    n_instances: int = 1
    pixel_spacing_mm: tuple[float, float] | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome of routing one series.

    ``rule`` is the matching rule's name (``None``: no rule matched, ``reason`` is
    ``"not_routed"``); ``action`` is ``"explain"`` (with ``model`` and the optional
    ``method``, ``target``, ``outputs``) or ``"skip"`` (with ``reason``).
    """

    action: Action
    rule: str | None
    model: str | None = None
    method: str | None = None
    target: str | None = None
    outputs: str | None = None
    priority: int = 0
    reason: str | None = None

    def __post_init__(self) -> None:
        if (self.action == "explain") != (self.model is not None):
            raise ValueError("an 'explain' decision needs a model; a 'skip' one none")
        if self.action == "skip" and not self.reason:
            raise ValueError("a 'skip' decision needs a reason")

    def describe(self) -> dict[str, object]:
        """JSON-ready form (for manifests, job records and ``routes check``)."""
        return {k: v for k, v in (("rule", self.rule), ("action", self.action),
                                  ("model", self.model), ("method", self.method),
                                  ("target", self.target), ("outputs", self.outputs),
                                  ("reason", self.reason)) if v is not None}


def _text(ds: pydicom.Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def facts_of(ref: SeriesRef) -> SeriesFacts:
    """The routing facts of a found series, from its first file's header."""
    try:
        ds = pydicom.dcmread(ref.paths[0], stop_before_pixels=True)
    except (OSError, InvalidDicomError, ValueError, TypeError):
        return SeriesFacts(modality=ref.modality.upper(), n_instances=ref.n_instances)
    image_type = ds.get("ImageType")
    values = [image_type] if isinstance(image_type, str) else list(image_type or ())
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    pair: tuple[float, float] | None = None
    try:
        if spacing is not None and len(spacing) == 2:
            pair = (float(spacing[0]), float(spacing[1]))
    except (TypeError, ValueError):
        pair = None
    return SeriesFacts(
        modality=ref.modality.strip().upper(), body_part=_text(ds, "BodyPartExamined").upper(),
        sop_class_uid=_text(ds, "SOPClassUID"),
        series_description=_text(ds, "SeriesDescription"),
        protocol_name=_text(ds, "ProtocolName"),
        image_type=tuple(str(v).strip().upper() for v in values),
        n_instances=ref.n_instances, pixel_spacing_mm=pair)


def _default_lookup(model: str) -> ModelSpec:
    """The spec of a model name; built-ins and spec files without importing torch."""
    from pathlib import Path

    from medcam.model.spec import BUILTIN_DIR, ModelSpec, builtin_names

    if model in builtin_names():
        return ModelSpec.from_file(BUILTIN_DIR / f"{model}.json")
    if Path(model).suffix.lower() in (".json", ".toml") and Path(model).is_file():
        return ModelSpec.from_file(Path(model))
    from medcam.model.load import resolve_spec

    return resolve_spec(model)


def _in_range(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def _matches(rule: Rule, facts: SeriesFacts, lookup: SpecLookup) -> bool:
    checks: list[bool] = []
    if rule.modality:
        checks.append(facts.modality in rule.modality)
    if rule.body_part:
        checks.append(facts.body_part in rule.body_part)
    if rule.sop_class_uid:
        checks.append(facts.sop_class_uid in rule.sop_class_uid)
    for key in ("series_description", "protocol_name"):
        pattern = getattr(rule, key)
        if pattern is not None:
            checks.append(re.search(pattern, getattr(facts, key), re.IGNORECASE) is not None)
    if rule.image_type:
        checks.append(set(rule.image_type) <= set(facts.image_type))
    if rule.slices is not None:
        checks.append(_in_range(facts.n_instances, rule.slices))
    if rule.pixel_spacing_mm is not None:
        spacing = facts.pixel_spacing_mm
        checks.append(spacing is not None
                      and all(_in_range(s, rule.pixel_spacing_mm) for s in spacing))
    if rule.in_model_scope and all(checks) and rule.model is not None:
        spec = lookup(rule.model)
        # as medcam.model.fit: a series without Body Part Examined is accepted
        checks.append((not spec.modalities or facts.modality in spec.modalities)
                      and (not spec.body_parts or not facts.body_part
                           or facts.body_part in spec.body_parts))
    return all(checks)


def decide(routes: Routes, facts: SeriesFacts, lookup: SpecLookup = _default_lookup
           ) -> Decision:
    """The first rule of ``routes`` that ``facts`` meet, as a decision."""
    for rule in routes.rules:
        if _matches(rule, facts, lookup):
            if rule.skip is not None:
                return Decision("skip", rule.name, reason=rule.skip, priority=rule.priority)
            return Decision("explain", rule.name, model=rule.model, method=rule.method,
                            target=rule.target, outputs=rule.outputs, priority=rule.priority)
    return Decision("skip", None, reason="not_routed")


def route(routes: Routes, ref: SeriesRef, lookup: SpecLookup = _default_lookup) -> Decision:
    """Route a found series (:func:`facts_of` then :func:`decide`)."""
    return decide(routes, facts_of(ref), lookup)


def check_models(routes: Routes, lookup: SpecLookup = _default_lookup, *,
                 methods: bool = True) -> None:
    """Resolve every model the routes name, so a bad file fails before any work.

    ``methods=False`` leaves the CAM method names to the run (checking them imports
    torch, which a process that only routes should not).

    Raises:
        RoutesError: naming the first rule whose model, method or outputs is unknown.

    """
    from medcam.export.result_set import parse_outputs

    for rule in routes.rules:
        try:
            if rule.model is not None:
                lookup(rule.model)
            if rule.method is not None and methods:
                from medcam import cam

                cam.describe(rule.method)
            if rule.outputs is not None:
                parse_outputs(rule.outputs)
        except MedcamError as exc:
            raise RoutesError(f"rule {rule.name!r}: {exc}") from None
