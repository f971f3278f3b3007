"""medcam: class activation maps for MONAI classifiers on DICOM series."""

from __future__ import annotations

__all__: list[str] = []
__version__ = "0.1.0"
