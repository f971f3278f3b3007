"""PHI-safe logging for the service process and its worker subprocess.

Every record from every logger (root, ``pydicom``, ``pynetdicom``, ``uvicorn``,
Python warnings) passes one handler whose :class:`PhiFilter` renders the message,
redacts registered patient values and library-quoted values, and drops the
arguments, so nothing downstream can re-format the original text.
"""

from __future__ import annotations

import logging
import re
import sys

from pydicom import config as pydicom_config
from pynetdicom import _config as pynetdicom_config

from service.phi import PhiRegistry

__all__ = ["PhiFilter", "configure_logging", "harden_dicom_libraries", "safe_path"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Loggers that are chatty at INFO (association set-up, every C-STORE).
_QUIET = {"pynetdicom": logging.WARNING, "pydicom": logging.WARNING,
          "dicomweb_client": logging.WARNING, "urllib3": logging.WARNING,
          "multipart": logging.WARNING, "python_multipart": logging.WARNING}


_SAFE_SEGMENT = re.compile(r"^(|v1|jobs|studies|healthz|readyz|metrics|[0-9a-f]{32}|[0-9.]{1,64})$")


def safe_path(path: str) -> str:
    """Drop the query of an access-log path and replace unknown segments.

    Only route names, job ids and UID-shaped segments are kept: a path or query may
    carry anything a client typed, including patient data.
    """
    segments = path.split("?", 1)[0].split("/")
    return "/".join(s if _SAFE_SEGMENT.match(s) else "<redacted>" for s in segments)


class PhiFilter(logging.Filter):
    """Redact patient data from a record's message, traceback and stack.

    Args:
        registry: the identifying values seen so far.

    """

    def __init__(self, registry: PhiRegistry) -> None:
        super().__init__()
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102
        if (record.name == "uvicorn.access" and isinstance(record.args, tuple)
                and len(record.args) == 5):
            args = list(record.args)
            args[2] = safe_path(str(args[2]))
            record.args = tuple(args)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"unformattable log message from {record.name}"
        record.msg = self.registry.scrub(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.registry.scrub(text)
        elif record.exc_text:
            record.exc_text = self.registry.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.registry.scrub(record.stack_info)
        return True


class _ScrubbedFormatter(logging.Formatter):
    """A formatter that keeps the pre-scrubbed traceback text."""

    def formatException(self, ei: object) -> str:
        return "<traceback withheld>"


def harden_dicom_libraries() -> None:
    """Switch off pynetdicom's identifier logging and pydicom's value-quoting checks.

    Both settings are process-global in those libraries; the service owns its process.
    """
    pynetdicom_config.LOG_REQUEST_IDENTIFIERS = False
    pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False
    pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE


def configure_logging(registry: PhiRegistry, level: int | str = logging.INFO) -> logging.Handler:
    """Route every logger through one PHI-filtered stderr handler.

    Args:
        registry: identifying values to redact.
        level: level of the service's own loggers.

    Returns:
        The installed handler (tests attach their own beside it).

    """
    harden_dicom_libraries()
    logging.captureWarnings(True)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(PhiFilter(registry))
    handler.setFormatter(_ScrubbedFormatter(_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "pynetdicom", "pydicom",
                 "py.warnings"):
        lg = logging.getLogger(name)
        for old in list(lg.handlers):
            lg.removeHandler(old)
        lg.propagate = True
    for name, lvl in _QUIET.items():
        logging.getLogger(name).setLevel(lvl)
    return handler
