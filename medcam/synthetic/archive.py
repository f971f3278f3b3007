"""Small synthetic CT archives: many short series in nested folders (tests, benchmarks)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from medcam.geometry import Geometry
from medcam.synthetic.dicom import deterministic_uid, write_series

__all__ = ["write_ct_archive", "write_small_ct"]


def write_small_ct(folder: Path, seed: str, *, study: str | None = None, slices: int = 8,
                   size: int = 32, modality: str = "CT", **kwargs: Any) -> list[Path]:  # noqa: ANN401
    """Write one small series of noise around -700 HU with a bright blob.

    Args:
        folder: where to write (created).
        seed: decides the UIDs and the voxel values (same seed, same bytes).
        study: Study Instance UID (default derived from ``seed``).
        slices: number of slices (5 mm apart).
        size: rows and columns (4 mm pixels).
        modality: ``CT`` or ``MR``.
        **kwargs: passed to :func:`medcam.synthetic.dicom.write_series`.

    Returns:
        The files, in slice order.

    """
    geometry = Geometry((slices, size, size), (5.0, 4.0, 4.0), (-64.0, -64.0, -20.0),
                        (0, 0, 1, 0, 1, 0, 1, 0, 0))
    rng = np.random.default_rng(int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16))
    volume = rng.normal(-700, 80, geometry.shape).astype(np.float32)
    z, y, x = (int(rng.integers(2, s - 2)) for s in geometry.shape)
    volume[max(0, z - 1):z + 2, y - 2:y + 3, x - 2:x + 3] = 60.0
    return write_series(volume, geometry, folder, modality=modality, uid_seed=seed,
                        study_instance_uid=study, **kwargs)


def write_ct_archive(root: Path, n_series: int, *, slices: int = 8, size: int = 32,
                     per_study: int = 2, **kwargs: Any) -> Path:  # noqa: ANN401
    """Write ``n_series`` small CT series, ``per_study`` per study, in nested folders.

    Args:
        root: the archive folder.
        n_series: number of series.
        slices: slices per series.
        size: rows and columns.
        per_study: series per study.
        **kwargs: passed to :func:`write_small_ct`.

    Returns:
        ``root``.

    """
    for i in range(n_series):
        study = deterministic_uid(f"study-{i // per_study}", "study")
        write_small_ct(root / f"site{i % 3}" / f"study{i // per_study}" / f"s{i}",
                       f"series-{i}", study=study, slices=slices, size=size, **kwargs)
    return root
