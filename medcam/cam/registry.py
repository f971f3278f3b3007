"""The method table: names, descriptions and the :func:`create` factory."""

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

__all__ = ["MethodInfo", "available", "create", "describe"]


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


_TABLE: dict[str, tuple[type[CamMethod], str, str]] = {
    "cam": (Cam, "Zhou et al., CVPR 2016, arXiv 1512.04150",
            "Linear-layer weights applied to the last features; needs a GAP+linear head."),
    "gradcam": (GradCam, "Selvaraju et al., ICCV 2017, arXiv 1610.02391",
                "Channel weights = spatially averaged gradients of the class score."),
    "gradcam++": (GradCamPlusPlus, "Chattopadhyay et al., WACV 2018, arXiv 1710.11063",
                  "Positive-gradient weights with per-voxel second-order coefficients."),
    "xgradcam": (XGradCam, "Fu et al., BMVC 2020, arXiv 2008.02312",
                 "Gradients weighted by normalised activations (axiom-based)."),
    "layercam": (LayerCam, "Jiang et al., IEEE TIP 30:5875, 2021",
                 "Element-wise positive-gradient weights; fuses several layers for detail."),
    "hirescam": (HiResCam, "Draelos & Carin, arXiv 2011.08891",
                 "Gradient times activation per voxel, no averaging; faithful for GAP heads."),
    "scorecam": (ScoreCam, "Wang et al., CVPR-W 2020, arXiv 1910.01279",
                 "Weights from the class probability of inputs masked by each channel."),
    "ablationcam": (AblationCam, "Desai & Ramaswamy, WACV 2020",
                    "Weights from the score drop when each channel is zeroed (tail passes)."),
    "eigencam": (EigenCam, "Bany Muhammad & Yeasin, IJCNN 2020, arXiv 2008.00299",
                 "First principal component of the features; class-agnostic."),
    "recipro": (ReciproCam, "Byun & Lee, arXiv 2209.14074 (CVPR-W 2024)",
                "Class probability of spatially masked features; fast, gradient-free."),
    "fdcam": (FdCam, "Li et al., arXiv 2206.08792",
              "Grouped channel switching on/off combined with Grad-CAM weights."),
    "fgcam": (FgCam, "Qiu, Jin & Zhang, AAAI 2024, arXiv 2303.09171",
              "Grad-CAM components refined to a finer layer by LRP relevance rules."),
    "clustercam": (ClusterCam, "Feng et al., Neural Networks 2024, arXiv 2302.01642",
                   "Channel clusters scored by masked inputs; base minus scissors (adapted)."),
}


def available() -> list[str]:
    """Names of the CAM methods, in a stable order."""
    return list(_TABLE)


def _lookup(name: str) -> tuple[type[CamMethod], str, str]:
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
    cls, paper, summary = _lookup(name)
    return MethodInfo(name, cls.cost_class, paper, summary, cls.needs_grad)


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
    cls, _, _ = _lookup(name)
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
