"""medcam: class activation maps for MONAI classifiers on DICOM series.

Public API::

    series = medcam.read_series("path/to/series")      # -> Series (LPS geometry)
    result = medcam.explain(series, model="demo-ct3d", method="gradcam")
    result.cam            # float32 in [0, 1], exactly series.array.shape
    result.probabilities  # {"no_lesion": 0.03, "lesion": 0.97}

Heavy modules (torch, SimpleITK) are imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from medcam.errors import MedcamError

if TYPE_CHECKING:
    from medcam.explanation import Explanation, explain
    from medcam.series import find_series, read_series
    from medcam.series.types import Series

__all__ = ["Explanation", "MedcamError", "Series", "explain", "find_series", "read_series"]
__version__ = "0.1.0"

_LAZY = {
    "explain": "medcam.explanation",
    "Explanation": "medcam.explanation",
    "read_series": "medcam.series",
    "find_series": "medcam.series",
    "Series": "medcam.series.types",
}


def __getattr__(name: str) -> Any:  # noqa: ANN401 - lazy re-export
    """Import the public API lazily (PEP 562)."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medcam' has no attribute {name!r}")
