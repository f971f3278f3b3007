"""Small synthetic CT series for the service tests (pydicom + medcam.synthetic)."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from medcam.geometry import Geometry
from medcam.synthetic.dicom import deterministic_uid, write_series

#: The PHI canary of RELIABILITY_TESTS.md B-32.
CANARY = {"PatientName": "CANARY^PHI^7F3A", "PatientID": "PHI-7F3A",
          "PatientBirthDate": "19701345", "AccessionNumber": "ACC7F3A"}
CANARY_STRINGS = ("CANARY^PHI^7F3A", "CANARY", "PHI-7F3A", "7F3A", "19701345", "ACC7F3A")
_AXIAL = np.stack([np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0]),
                   np.array([1.0, 0.0, 0.0])], axis=1)


def write_ct(out_dir: Path, seed: str, *, slices: int = 8, size: int = 64,
             study_instance_uid: str | None = None, canary: bool = False,
             extra: Mapping[str, Any] | None = None) -> list[Path]:
    """Write a ``slices`` x ``size`` x ``size`` axial CT (a bright blob in soft tissue)."""
    rng = np.random.default_rng(int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16))
    vol = np.full((slices, size, size), 40.0, np.float32)
    vol += rng.normal(0, 5, vol.shape).astype(np.float32)
    zz, yy, xx = np.mgrid[:slices, :size, :size]
    c = (slices // 2, size // 2 + rng.integers(-8, 8), size // 2 + rng.integers(-8, 8))
    vol[(zz - c[0]) ** 2 * 4 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 < 60] = 300.0
    geometry = Geometry((slices, size, size), (3.0, 2.0, 2.0), (-64.0, -64.0, 0.0),
                        tuple(_AXIAL.ravel()))
    attrs: dict[str, Any] = dict(extra or {})
    if canary:
        attrs.update(CANARY)
    with warnings.catch_warnings():  # the canary's birth date is invalid on purpose
        warnings.simplefilter("ignore", UserWarning)
        return write_series(vol, geometry, Path(out_dir), uid_seed=seed,
                            study_instance_uid=study_instance_uid, extra=attrs)


def study_uid(seed: str) -> str:
    """The Study Instance UID ``write_ct`` gives a seed (without an explicit one)."""
    return deterministic_uid(seed, "study")


def series_uid(seed: str) -> str:
    """The Series Instance UID ``write_ct`` gives a seed."""
    return deterministic_uid(seed, "series")
