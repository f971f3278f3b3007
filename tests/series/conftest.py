"""Fixtures for the series tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from medcam.geometry import Geometry
from medcam.synthetic.dicom import write_series

from ._helpers import ORIENTATIONS, dicom_geometry, make_volume


@pytest.fixture
def ct_series(tmp_path: Path) -> Callable[..., tuple[list[Path], Geometry, np.ndarray]]:
    """Factory writing a synthetic axial CT series; returns (paths in slice order, geometry, HU)."""
    counter = iter(range(1000))

    def make(n: int = 20, rows: int = 8, columns: int = 6, spacing: float = 2.5,
             orientation: str = "axial", **kwargs: object
             ) -> tuple[list[Path], Geometry, np.ndarray]:
        row, col = ORIENTATIONS[orientation]
        geometry = dicom_geometry(row, col, (spacing, 0.5, 0.8), (n, rows, columns))
        volume = make_volume(geometry.shape)
        k = next(counter)
        kwargs.setdefault("uid_seed", f"ct-{k}")
        paths = write_series(volume, geometry, tmp_path / f"series{k}", **kwargs)
        return paths, geometry, volume

    return make
