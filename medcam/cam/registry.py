"""The method table, built from the method classes (:data:`METHODS`), and :func:`create`."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from torch import nn

from medcam.cam.ablationcam import AblationCam
from medcam.cam.base import CamMethod, CostClass
from medcam.cam.cam import Cam
from medcam.cam.clustercam import ClusterCam
from medcam.cam.eigencam import EigenCam
from medcam.cam.fdcam import FdCam
from medcam.cam.fgcam import FgCam
from medcam.cam.gradcam import GradCam
from medcam.cam.gradcam_pp import GradCamPlusPlus
from medcam.cam.hirescam import HiResCam
from medcam.cam.layercam import LayerCam
from medcam.cam.layers import LayerSpec
from medcam.cam.recipro import ReciproCam
from medcam.cam.scorecam import ScoreCam
from medcam.cam.xgradcam import XGradCam
from medcam.errors import CamError

__all__ = ["METHODS", "MethodInfo", "available", "create", "describe"]


@dataclass(frozen=True)
class MethodInfo:
    """What ``medcam methods`` shows for one method.

    Attributes:
        name: the method name used by :func:`create`.
        cost_class: ``"gradient"``, ``"perturbation"`` or ``"gradient-free"``.
        paper: short citation with arXiv id or venue.
        summary: one line.
        needs_grad: the method takes a backward pass (it refuses
            ``torch.inference_mode()``); FD-CAM is a perturbation method that does.

    """

    name: str
    cost_class: CostClass
    paper: str
    summary: str
    needs_grad: bool = False


#: The methods, in the order ``medcam methods`` lists them; each class carries its
#: own name, cost class, paper and summary.
METHODS: tuple[type[CamMethod], ...] = (
    Cam, GradCam, GradCamPlusPlus, XGradCam, LayerCam, HiResCam, ScoreCam, AblationCam,
    EigenCam, ReciproCam, FdCam, FgCam, ClusterCam,
)


def _table(methods: tuple[type[CamMethod], ...]) -> dict[str, type[CamMethod]]:
    """Name -> class; refuses a class without its metadata or a name used twice."""
    table: dict[str, type[CamMethod]] = {}
    for cls in methods:
        if not (cls.name and cls.paper and cls.summary):
            raise CamError(f"{cls.__name__} lacks its name, paper or summary")
        if cls.name in table:
            raise CamError(f"two CAM methods are named {cls.name!r}")
        table[cls.name] = cls
    return table


_TABLE = _table(METHODS)


def available() -> list[str]:
    """Names of the CAM methods, in a stable order."""
    return list(_TABLE)


def _lookup(name: str) -> type[CamMethod]:
    try:
        return _TABLE[name]
    except KeyError:
        raise CamError(f"unknown CAM method {name!r}; available: "
                       f"{', '.join(available())}") from None


def describe(name: str) -> MethodInfo:
    """Name, cost class, citation, one-line summary and gradient need of a method.

    Raises:
        CamError: unknown method name.

    """
    cls = _lookup(name)
    return MethodInfo(cls.name, cls.cost_class, cls.paper, cls.summary, cls.needs_grad)


def create(name: str, model: nn.Module, target_layer: LayerSpec | None = None,
           **options: object) -> CamMethod:
    """Build a CAM method for ``model``.

    Args:
        name: one of :func:`available`.
        model: the classifier.
        target_layer: dotted name, module, or list of them (``layers=`` is an alias);
            ``None`` picks the last spatial feature layer.
        **options: method options, e.g. ``upsample="gaussian"``, ``batch_size=16``,
            ``relu=False``, ``baseline="blur"`` (Score-/Cluster-CAM), ``variant="plain"``
            (Recipro-CAM).

    Raises:
        CamError: unknown method or option.
        TargetLayerError: unknown target layer.

    """
    cls = _lookup(name)
    if "layers" in options:
        if target_layer is not None:
            raise CamError("give target_layer or layers, not both")
        target_layer = options.pop("layers")  # type: ignore[assignment]
    accepted = _accepted(cls)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise CamError(f"{name} does not accept option(s) {', '.join(unknown)}; accepted: "
                       f"{', '.join(sorted(accepted))}")
    return cls(model, target_layer, **options)  # type: ignore[arg-type]


def _accepted(cls: type[CamMethod]) -> set[str]:
    """Keyword options of ``cls.__init__`` and of the parents its ``**options`` reach."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            break
    return names
