"""The medcam error tree.

Every failure medcam can diagnose is raised as a subclass of :class:`MedcamError`.
Messages say what was wrong and which rule applies; they never quote attribute
values that could be patient data (UIDs and counts are fine, names, IDs and dates
are not).

::

    MedcamError
    ├── SeriesError
    │   ├── NotDicomError
    │   ├── NoImageSeriesError
    │   ├── UnsupportedTransferSyntaxError
    │   ├── PixelDataError
    │   ├── NotAVolumeError(reason)
    │   │   └── MissingSliceError
    │   └── LimitExceededError
    ├── ModelError
    │   ├── WeightsMismatchError
    │   ├── TargetLayerError
    │   └── CalibrationError
    ├── CamError
    ├── ExportError
    ├── PushError
    │   ├── TransientPushError
    │   └── PermanentPushError
    ├── FetchError
    │   ├── TransientFetchError
    │   └── PermanentFetchError
    ├── WorkerCrashedError
    ├── BatchError
    ├── RoutesError
    └── ServiceError (the service's own errors, defined in service/errors.py)
"""

from __future__ import annotations

__all__ = [
    "BatchError",
    "CalibrationError",
    "CamError",
    "ExportError",
    "FetchError",
    "LimitExceededError",
    "MedcamError",
    "MissingSliceError",
    "ModelError",
    "NoImageSeriesError",
    "NotAVolumeError",
    "NotDicomError",
    "PermanentFetchError",
    "PermanentPushError",
    "PixelDataError",
    "PushError",
    "RoutesError",
    "SeriesError",
    "ServiceError",
    "TargetLayerError",
    "TransientFetchError",
    "TransientPushError",
    "UnsupportedTransferSyntaxError",
    "WeightsMismatchError",
    "WorkerCrashedError",
]


class MedcamError(Exception):
    """Root of every error medcam raises on purpose."""


class SeriesError(MedcamError):
    """A DICOM input could not be turned into a series."""


class NotDicomError(SeriesError):
    """A path is missing or a file is not a readable DICOM object."""


class NoImageSeriesError(SeriesError):
    """The input holds no image series (only non-image objects, or nothing)."""


class UnsupportedTransferSyntaxError(SeriesError):
    """The pixel data is encoded in a transfer syntax no installed decoder handles."""


class PixelDataError(SeriesError):
    """Pixel data is missing, truncated or inconsistent with the image header."""


class LimitExceededError(SeriesError):
    """The input declares more data than medcam is configured to accept."""


class NotAVolumeError(SeriesError):
    """The slices of a series do not form a regular volume.

    Args:
        reason: a short machine-readable code, e.g. ``"duplicate_position"``.
        detail: a human sentence (no patient data).

    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"series is not a regular volume ({reason}): {detail}")
        self.reason = reason
        self.detail = detail


class MissingSliceError(NotAVolumeError):
    """A slice is missing inside the stack: one gap is a whole multiple of the others.

    Args:
        position: 1-based position of the (first) missing slice in the complete series.
        total: number of slices the complete series would have.
        detail: a human sentence (no patient data).

    """

    def __init__(self, position: int, total: int, detail: str) -> None:
        super().__init__("missing_slice", detail)
        self.position = position
        self.total = total


class ModelError(MedcamError):
    """A model spec, checkpoint or network could not be loaded or run."""


class WeightsMismatchError(ModelError):
    """The weights file does not have the sha256 the model spec declares."""


class TargetLayerError(ModelError):
    """The requested CAM target layer does not exist or cannot be hooked."""


class CalibrationError(ModelError):
    """A calibrated CAM scale cannot be computed or stored (no positive case, bad spec file)."""


class CamError(MedcamError):
    """A CAM method could not be computed for this model and input."""


class ExportError(MedcamError):
    """A DICOM output object could not be built or written."""


class PushError(MedcamError):
    """Sending results to a PACS failed."""


class TransientPushError(PushError):
    """A push failed in a way that may succeed when retried."""


class PermanentPushError(PushError):
    """A push failed in a way that retrying cannot fix."""


class BatchError(MedcamError):
    """A batch run cannot start or go on (output folder in use, engine missing or down)."""


class RoutesError(MedcamError):
    """A routes file that cannot be used (syntax, unknown key, bad value, unknown model).

    The message names the rule (its index and name) and the key at fault.
    """


class FetchError(MedcamError):
    """Instances could not be retrieved from a PACS (QIDO-RS/WADO-RS)."""


class TransientFetchError(FetchError):
    """Retrieval failed in a way that may succeed when retried."""


class PermanentFetchError(FetchError):
    """Retrieval failed in a way that retrying cannot fix."""


class WorkerCrashedError(MedcamError):
    """A worker process died (signal, out of memory) or overran its time limit.

    Args:
        detail: what happened, e.g. ``"worker process killed by signal 9"`` (no
            patient data).

    """

    def __init__(self, detail: str = "the worker process died (e.g. out of memory or a "
                                     "crashing decoder)") -> None:
        super().__init__(detail)
        self.detail = detail


class ServiceError(MedcamError):
    """Root of the errors of the ``service`` package (see ``service/errors.py``)."""
