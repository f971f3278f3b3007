"""PHI scrubbing of log records and texts (B-32 building blocks)."""

from __future__ import annotations

import io
import logging
import warnings

from pynetdicom import _config as pynetdicom_config

from service.logging import PhiFilter, configure_logging
from service.phi import PhiRegistry, scrub_patterns
from tests.service.dicomgen import CANARY_STRINGS


def test_registry_scrubs_values_and_components() -> None:
    r = PhiRegistry()
    r.add(["CANARY^PHI^7F3A", "CANARY", "7F3A", "ACC7F3A", "PHI-7F3A", "19701345", "M"])
    text = r.scrub("name CANARY^PHI^7F3A, id phi-7f3a, acc ACC7F3A, dob 19701345, sex M")
    assert all(c.lower() not in text.lower() for c in CANARY_STRINGS)
    assert text.endswith("sex M")


def test_registry_is_bounded() -> None:
    r = PhiRegistry(capacity=3)
    r.add(["aaa", "bbb", "ccc", "ddd"])
    assert len(r) == 3
    assert r.scrub("aaa ddd") == "aaa <redacted>"


def test_patterns_cover_library_messages() -> None:
    assert "19701345" not in scrub_patterns("Invalid value for VR DA: '19701345'.")
    assert "SMITH" not in scrub_patterns("(0010,0010) Patient's Name   PN: 'SMITH^J'")
    assert "XYZ" not in scrub_patterns('The value "XYZ" is invalid')


def test_filter_scrubs_args_and_tracebacks() -> None:
    registry = PhiRegistry()
    registry.add(["CANARY^PHI^7F3A"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PhiFilter(registry))
    logger = logging.getLogger("test.phi.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("patient %s", "CANARY^PHI^7F3A")
        try:
            raise ValueError("bad name CANARY^PHI^7F3A")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert "CANARY" not in stream.getvalue()
    assert "<redacted>" in stream.getvalue()


def test_configure_logging_hardens_libraries_and_captures_warnings() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        handler = configure_logging(PhiRegistry())
        stream = io.StringIO()
        handler.setStream(stream)
        assert pynetdicom_config.LOG_REQUEST_IDENTIFIERS is False
        assert pynetdicom_config.LOG_RESPONSE_IDENTIFIERS is False
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("Invalid value for VR DA: '19701345'.", UserWarning, stacklevel=1)
        logging.getLogger("pydicom").warning("Invalid value for VR DA: '19701345'.")
        assert "19701345" not in stream.getvalue()
        assert "Invalid value for VR DA" in stream.getvalue()
    finally:
        logging.captureWarnings(False)
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
