"""The service's errors, all under the library's tree (:class:`medcam.errors.ServiceError`).

::

    MedcamError
    └── ServiceError
        ├── InvalidInstanceError   (also a ValueError)
        ├── UploadLimitError       (answered 413)
        ├── UploadRejectedError    (answered 400)
        ├── DataDirLockedError
        └── WorkerStoppedError

Errors the service shares with the library (:class:`~medcam.errors.WorkerCrashedError`,
the push and fetch errors) are the library's own classes. Messages carry no
patient data.
"""

from __future__ import annotations

from medcam.errors import ServiceError

__all__ = ["DataDirLockedError", "InvalidInstanceError", "ServiceError", "UploadLimitError",
           "UploadRejectedError", "WorkerStoppedError"]


class InvalidInstanceError(ServiceError, ValueError):
    """A received object is not a DICOM instance the intake can file (no PHI in text)."""


class UploadLimitError(ServiceError):
    """The upload exceeds a configured limit (answered with 413)."""


class UploadRejectedError(ServiceError):
    """The upload is malformed or holds a non-DICOM part (answered with 400)."""


class DataDirLockedError(ServiceError):
    """Another service process already uses this data folder."""


class WorkerStoppedError(ServiceError):
    """The service is shutting down; the job goes back to the queue uncounted."""
