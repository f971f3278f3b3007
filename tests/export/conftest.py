"""Fixtures of the export tests (sources are built in ``_sources``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.export._sources import Source, make_projection, make_volume


@pytest.fixture
def volume_factory(tmp_path: Path) -> Callable[..., Source]:
    return lambda tag="ct", **kw: make_volume(tmp_path, tag, **kw)


@pytest.fixture
def projection_factory(tmp_path: Path) -> Callable[..., Source]:
    return lambda tag="dx", **kw: make_projection(tmp_path, tag, **kw)
