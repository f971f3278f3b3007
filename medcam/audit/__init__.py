"""``medcam.audit``: score CAM methods on a dataset with ground truth.

>>> import medcam.audit
>>> result = medcam.audit.run("sample_dicoms/audit", model="demo-ct3d",
...                           methods=["gradcam", "layercam"], out="out/audit")  # doctest: +SKIP
>>> result["aggregate"]["gradcam"]["pointing_game"]["mean"]                      # doctest: +SKIP

The metrics work one by one on arrays and tensors (:mod:`medcam.audit.metrics`), the
sanity check on any model and CAM callable (:mod:`medcam.audit.randomization`), DICOM
SEG ground truth is read by :mod:`medcam.audit.seg`. Heavy modules load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from medcam.audit.errors import AuditError, DatasetError, GroundTruthError

if TYPE_CHECKING:
    from medcam.audit.config import AuditConfig
    from medcam.audit.randomization import RandomizationResult, cascading_randomization
    from medcam.audit.runner import audit, run
    from medcam.audit.seg import GroundTruth, read_ground_truth

__all__ = [
    "run", "audit", "AuditConfig",
    "cascading_randomization", "RandomizationResult",
    "GroundTruth", "read_ground_truth",
    "AuditError", "DatasetError", "GroundTruthError",
]

_LAZY = {
    "run": "medcam.audit.runner",
    "audit": "medcam.audit.runner",
    "AuditConfig": "medcam.audit.config",
    "cascading_randomization": "medcam.audit.randomization",
    "RandomizationResult": "medcam.audit.randomization",
    "GroundTruth": "medcam.audit.seg",
    "read_ground_truth": "medcam.audit.seg",
}


def __getattr__(name: str) -> Any:  # noqa: ANN401 - PEP 562 returns any attribute
    """Import the public API lazily (PEP 562)."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medcam.audit' has no attribute {name!r}")
