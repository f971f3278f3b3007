"""The models of a batch run, and routing (``medcam batch --routes``).

Without routes a run has one model, checked before any worker starts. With routes
(:mod:`medcam.routing`) every planned image series is decided at plan time by the
same rules and the same header facts as ``medcam routes check`` (one header per
series, no model run, no torch needed for the decision): a skip (the rule's reason,
or ``not_routed`` when no rule matches) is recorded in the manifest without a
worker; an ``explain`` decision travels with the unit (:class:`RouteChoice`) and its
worker loads the rule's model on first use (:class:`~medcam.model.cache.ModelCache`).
Every manifest line of a routed run records its decision under ``route``.

A DICOMweb archive's series are decided from what QIDO-RS gives (Modality and the
instance count): rules on other header fields do not match there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from medcam.batch.manifest import ManifestEntry
from medcam.batch.units import ModelIdentity, RouteChoice, WorkUnit, sha256_of_file
from medcam.errors import WeightsMismatchError
from medcam.export.types import ObjectKind
from medcam.model.spec import ModelSpec
from medcam.routing import Decision, Routes, SeriesFacts, check_models, decide, facts_of
from medcam.series.scan import SeriesRef

__all__ = ["RunModels", "check_run_models", "route_dict", "route_unit", "unit_job"]


@dataclass(frozen=True)
class RunModels:
    """The checked models of a run.

    Args:
        default: the run's model (``None`` in a routed run).
        modalities: the modalities it accepts (empty: any, or routed).
        routes: the routes of a routed run.
        identities: the identity of every model the routes name.

    """

    default: ModelIdentity | None
    modalities: tuple[str, ...] = ()
    routes: Routes | None = None
    identities: Mapping[str, ModelIdentity] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.default is None) == (self.routes is None):
            raise ValueError("a run has either one model or routes")
        object.__setattr__(self, "identities", MappingProxyType(dict(self.identities)))


def _checked(spec: ModelSpec) -> ModelIdentity:
    if spec.weights.is_file() and sha256_of_file(spec.weights) != spec.sha256:
        raise WeightsMismatchError(f"weights {spec.weights.name} do not match the sha256 in "
                                   f"model spec {spec.name}")
    return ModelIdentity.of(spec)


def check_run_models(model: str, method: str, routes: Routes | None) -> RunModels:
    """Fail early (before any worker) on an unknown model, method or outputs, or bad weights.

    Raises:
        ModelError: the run's model is unknown; WeightsMismatchError: its weights (or
            those of a routed model) do not match the spec's sha256.
        RoutesError: a rule names an unknown model, method or outputs.
        CamError: the method is unknown.

    """
    from medcam import cam
    from medcam.model.load import resolve_spec

    cam.describe(method)
    if routes is None:
        spec = resolve_spec(model)
        return RunModels(_checked(spec), tuple(spec.modalities))
    check_models(routes)
    return RunModels(None, routes=routes,
                     identities={m: _checked(resolve_spec(m)) for m in routes.models})


def route_dict(routes: Routes, decision: Decision) -> dict[str, object]:
    """The manifest form of a decision: :meth:`Decision.describe` and the rule's index."""
    names = [r.name for r in routes.rules]
    index = {"index": names.index(decision.rule) + 1} if decision.rule in names else {}
    return {**decision.describe(), **index}


def _facts(unit: WorkUnit) -> SeriesFacts:
    if not unit.paths:  # a DICOMweb series, not retrieved yet
        return SeriesFacts(modality=unit.modality.strip().upper(), n_instances=unit.n_instances)
    return facts_of(SeriesRef(unit.series_instance_uid, unit.study_instance_uid, unit.modality,
                              unit.paths, unit.n_instances))


def route_unit(unit: WorkUnit, models: RunModels, method: str) -> WorkUnit | ManifestEntry:
    """A routed run's unit with its decision, or the ``skipped`` entry of its series."""
    routes = models.routes
    if routes is None:
        return unit
    decision = decide(routes, _facts(unit))
    described = route_dict(routes, decision)
    if decision.action == "skip" or decision.model is None:
        message = ("no rule of the routes matches the series" if decision.rule is None
                   else f"rule {decision.rule!r} skips the series")
        return ManifestEntry(
            key=unit.key, study_instance_uid=unit.study_instance_uid,
            series_instance_uid=unit.series_instance_uid, modality=unit.modality,
            status="skipped", model=None, method=method, n_instances=unit.n_instances,
            reason=decision.reason or "not_routed", message=message,
            listing_key=unit.listing_key, warnings=unit.warnings, route=described)
    index = int(str(described["index"]))
    return replace(unit, route=RouteChoice(decision, index, models.identities[decision.model]))


def unit_job(unit: WorkUnit, model: ModelIdentity | None, method: str,
             outputs: tuple[ObjectKind, ...]
             ) -> tuple[ModelIdentity | None, str, tuple[ObjectKind, ...]]:
    """The model identity, method and output kinds a unit is explained with."""
    route = unit.route
    if route is None:
        return model, method, outputs
    return route.model, route.method(method), route.outputs(outputs)
