"""Helpers for the series tests: synthetic geometries, volumes and file rewriting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from medcam.geometry import Geometry

PYDICOM_DATA = Path(pydicom.__file__).parent / "data"
TEST_FILES = PYDICOM_DATA / "test_files"
CHARSET_FILES = PYDICOM_DATA / "charset_files"

#: A canary patient: no error message or log line may contain these strings.
CANARY_NAME = "CANARY^PHI^SENTINEL"
CANARY_ID = "PHI-CANARY-4711"


def rotation(axis: str, degrees: float) -> np.ndarray:
    """Right-handed rotation matrix about the LPS x, y or z axis."""
    t = np.deg2rad(degrees)
    c, s = np.cos(t), np.sin(t)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


#: (row cosine IOP[0:3], column cosine IOP[3:6]) of the standard planes and an oblique one.
ORIENTATIONS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "axial": (np.array([1.0, 0, 0]), np.array([0, 1.0, 0])),
    "coronal": (np.array([1.0, 0, 0]), np.array([0, 0, -1.0])),
    "sagittal": (np.array([0, 1.0, 0]), np.array([0, 0, -1.0])),
    "oblique": tuple(rotation("z", 30) @ rotation("x", 20) @ v
                     for v in (np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))),
}


def dicom_geometry(row_cosine: np.ndarray, column_cosine: np.ndarray,
                   spacing: tuple[float, float, float], shape: tuple[int, int, int],
                   origin: tuple[float, float, float] = (-12.5, 31.25, 7.0)) -> Geometry:
    """The geometry a DICOM stack with these cosines has: slice axis = row x column."""
    normal = np.cross(row_cosine, column_cosine)
    direction = np.column_stack([normal, column_cosine, row_cosine])
    return Geometry(shape, spacing, origin, tuple(direction.ravel()))


def make_volume(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Integer HU values (exactly representable), different in every voxel row."""
    rng = np.random.default_rng(seed)
    return rng.integers(-1000, 2000, size=shape).astype(np.float64)


def rewrite(path: Path, change: Callable[[Dataset], None]) -> None:
    """Read a file, apply ``change`` to its data set and write it back in place."""
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path, enforce_file_format=True)
