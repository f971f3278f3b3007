"""Helpers at the pydicom boundary: quiet reading and typed attribute access.

pydicom validates values as it reads them and, in its default ``WARN`` mode,
sends messages that quote the raw value (for example a malformed birth date) to
both :mod:`warnings` and the ``pydicom`` logger. :func:`quiet_pydicom` switches
validation off and drops those messages for the duration of a read, then puts
every setting back as it was. It changes process-wide state while active, so it
is not meant for threads that use pydicom concurrently with different settings.
"""

from __future__ import annotations

import logging
import math
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from pydicom import config
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError

__all__ = ["PYDICOM_ERRORS", "BadValueError", "get_float", "get_floats", "get_int",
           "quiet_pydicom"]

#: Exception types pydicom (and the codecs it calls) raise on malformed input. They
#: are caught where medcam calls pydicom and re-raised as medcam errors.
PYDICOM_ERRORS: tuple[type[Exception], ...] = (
    InvalidDicomError, BytesLengthException, ValueError, TypeError, KeyError, IndexError,
    AttributeError, EOFError, OSError, struct.error, zlib.error, NotImplementedError, OverflowError,
    LookupError, RuntimeError, UnicodeError,
)

_PYDICOM_LOGGER = logging.getLogger("pydicom")


class _DropAll(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Read without value validation and without pydicom warnings or log records.

    Yields:
        Nothing; the settings are restored when the block exits.

    """
    previous = config.settings.reading_validation_mode
    previous_level = _PYDICOM_LOGGER.level
    log_filter = _DropAll()
    config.settings.reading_validation_mode = config.IGNORE
    _PYDICOM_LOGGER.addFilter(log_filter)
    # Child loggers (pydicom.pixels.decoders.base logs decoder tracebacks) inherit this
    # level; a filter on the parent would not stop their records.
    _PYDICOM_LOGGER.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        _PYDICOM_LOGGER.setLevel(previous_level)
        _PYDICOM_LOGGER.removeFilter(log_filter)
        config.settings.reading_validation_mode = previous


class BadValueError(ValueError):
    """An attribute is present but its value is malformed (wrong count, not a number)."""


def _raw_values(ds: Dataset, keyword: str) -> list[object] | None:
    try:
        if keyword not in ds:
            return None
        value = ds[keyword].value
    except PYDICOM_ERRORS as exc:
        raise BadValueError(keyword) from exc
    if value is None or value == "":
        return None
    if isinstance(value, (str, bytes, int, float)):
        return [value]
    try:
        return list(value)
    except TypeError as exc:
        raise BadValueError(keyword) from exc


def get_floats(ds: Dataset, keyword: str, count: int | None = None) -> tuple[float, ...] | None:
    """Read a numeric multi-valued attribute as floats.

    Args:
        ds: the dataset.
        keyword: DICOM keyword, e.g. ``"ImagePositionPatient"``.
        count: required number of values, or ``None`` for any number >= 1.

    Returns:
        The values, which may include NaN or infinities, or ``None`` if the
        attribute is absent or empty.

    Raises:
        BadValueError: the value cannot be parsed or has the wrong count.

    """
    raw = _raw_values(ds, keyword)
    if raw is None:
        return None
    try:
        values = tuple(float(v) for v in raw)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError) as exc:
        raise BadValueError(keyword) from exc
    if count is not None and len(values) != count:
        raise BadValueError(keyword)
    return values


def get_float(ds: Dataset, keyword: str) -> float | None:
    """Return the first value of a numeric attribute if present, well-formed and finite.

    Args:
        ds: the dataset.
        keyword: DICOM keyword.

    Returns:
        The first value as a finite float, or ``None``.

    """
    try:
        values = get_floats(ds, keyword)
    except BadValueError:
        return None
    if not values or not math.isfinite(values[0]):
        return None
    return values[0]


def get_int(ds: Dataset, keyword: str) -> int | None:
    """Return the first value of an integer attribute, or ``None`` if absent or malformed.

    Args:
        ds: the dataset.
        keyword: DICOM keyword.

    Returns:
        The value as an int, or ``None``.

    """
    value = get_float(ds, keyword)
    if value is None or value != int(value):
        return None
    return int(value)
