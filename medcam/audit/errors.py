"""Errors of the audit package, under the medcam error tree.

::

    MedcamError
    └── AuditError
        ├── DatasetError        (a dataset folder or case is unusable)
        └── GroundTruthError    (a DICOM SEG cannot be read or mapped onto its series)
"""

from __future__ import annotations

from medcam.errors import MedcamError

__all__ = ["AuditError", "DatasetError", "GroundTruthError"]


class AuditError(MedcamError):
    """An audit could not be run or a metric could not be computed on its inputs."""


class DatasetError(AuditError):
    """A dataset folder or one of its cases does not have the expected layout."""


class GroundTruthError(AuditError):
    """A DICOM SEG ground truth cannot be read or mapped onto its source series."""
