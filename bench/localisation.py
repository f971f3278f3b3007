"""The demo CT model finds and localises nodules in series of every orientation.

Series are generated at test time (random orientation, pixel and slice spacing,
anisotropic pixels, nodule position and size), written as DICOM, read back with
``medcam.read_series`` and explained; the CAM maximum, mapped through the source
geometry, must lie within 10 mm of the nodule centre.
"""

from __future__ import annotations

import numpy as np
import pytest

import medcam
from medcam.synthetic.dicom import write_series
from medcam.synthetic.phantom import render_ct
from tests.factory import random_ct_case

ORIENTATIONS = ["axial", "coronal", "sagittal", "oblique"]
TOLERANCE_MM = 10.0


@pytest.mark.parametrize(("orientation", "seed"),
                         [(o, s) for o in ORIENTATIONS for s in (11, 12)])
def test_nodule_found_and_localised(tmp_path, orientation, seed):
    rng = np.random.default_rng(seed)
    case = random_ct_case(rng, orientation)
    volume = render_ct(case.phantom, case.geometry, rng)
    write_series(volume, case.geometry, tmp_path, modality="CT", descending=bool(seed % 2),
                 uid_seed=f"loc-{orientation}-{seed}")
    series = medcam.read_series(tmp_path)
    exp = medcam.explain(series, model="demo-ct3d", method="gradcam")
    assert exp.target == "lesion", exp.probabilities
    assert exp.cam.shape == series.array.shape
    peak = np.unravel_index(int(np.argmax(exp.cam)), exp.cam.shape)
    peak_lps = series.geometry.index_to_lps(np.asarray(peak, dtype=float))
    distance = float(np.linalg.norm(peak_lps - np.asarray(case.nodule.center)))
    assert distance <= TOLERANCE_MM, f"CAM peak {distance:.1f} mm from the nodule"


@pytest.mark.parametrize("orientation", ["axial", "oblique"])
def test_no_nodule_is_negative(orientation):
    rng = np.random.default_rng(7)
    case = random_ct_case(rng, orientation, lesion=False)
    from medcam.series.types import Series

    volume = render_ct(case.phantom, case.geometry, rng)
    n = volume.shape[0]
    series = Series(volume, case.geometry, "1.2.3", "1.2.3.4", "1.2.840.10008.5.1.4.1.1.2",
                    "CT", tuple(f"1.2.3.4.{i}" for i in range(n)), (None,) * n, (None,) * n)
    exp = medcam.explain(series, model="demo-ct3d", method="gradcam")
    assert exp.target == "no_lesion", exp.probabilities
