"""Generate the bundled synthetic sample series (deterministic; no real patient data).

``python sample_dicoms/make_samples.py`` writes:

* ``ct/nodule/``: axial CT, 128 x 128 pixels of 2.5 mm, 64 slices of 5 mm, with an
  18 mm solid nodule in the right lung;
* ``ct/no_nodule/``: the same patient without the nodule (a second series of the study);
* ``dx/nodule/``: a PA chest radiograph (DX), 256 x 256 pixels of 1.4 mm, with a 22 mm
  nodule in the left lung.

All three come from the analytic phantom in :mod:`medcam.synthetic.phantom`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from medcam.export.uids import derive_uid
from medcam.geometry import Geometry
from medcam.synthetic.dicom import write_series
from medcam.synthetic.phantom import ChestPhantom, Nodule, render_ct, render_radiograph
from medcam.synthetic.projection import write_projection

HERE = Path(__file__).resolve().parent
IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
NODULE_CT = Nodule(center=(-70.0, -20.0, 30.0), radii=(9.0, 9.0, 9.0), rotation=IDENTITY,
                   hu=20.0, in_lung=True)
NODULE_DX = Nodule(center=(75.0, -10.0, -20.0), radii=(11.0, 11.0, 11.0), rotation=IDENTITY,
                   hu=40.0, in_lung=True)


def axial_geometry(frame_of_reference_uid: str) -> Geometry:
    """128 x 128 x 64 axial grid (2.5 mm pixels, 5 mm slices) around the origin."""
    shape, spacing = (64, 128, 128), (5.0, 2.5, 2.5)
    direction = (0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0)
    origin = tuple(-(np.asarray(shape) - 1) / 2 * np.asarray(spacing))
    origin = (origin[2], origin[1], origin[0])  # x from columns, y from rows, z from slices
    return Geometry(shape, spacing, origin, direction, frame_of_reference_uid)


def main() -> None:
    """Write the samples and a manifest of the planted nodules."""
    rng = np.random.default_rng(20261124)
    for sub in ("ct", "dx"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
    study = derive_uid("medcam-sample", "study-ct")
    frame = derive_uid("medcam-sample", "frame-ct")
    geometry = axial_geometry(frame)
    base = ChestPhantom()
    with_nodule = ChestPhantom(nodule=NODULE_CT)
    for name, phantom, number in (("nodule", with_nodule, 1), ("no_nodule", base, 2)):
        volume = render_ct(phantom, geometry, rng)
        write_series(volume, geometry, HERE / "ct" / name, modality="CT",
                     study_instance_uid=study, frame_of_reference_uid=frame,
                     series_instance_uid=derive_uid("medcam-sample", "series-ct", name),
                     series_description=f"Synthetic chest CT ({name.replace('_', ' ')})",
                     series_number=number, uid_seed=f"medcam-sample-ct-{name}")
    image = render_radiograph(ChestPhantom(nodule=NODULE_DX), (256, 256), 1.4, rng)
    write_projection(image, (1.4, 1.4), HERE / "dx" / "nodule" / "DX000001.dcm", modality="DX",
                     study_instance_uid=derive_uid("medcam-sample", "study-dx"),
                     series_instance_uid=derive_uid("medcam-sample", "series-dx"),
                     uid_seed="medcam-sample-dx")
    manifest = {
        "ct/nodule": {"nodule_center_lps_mm": list(NODULE_CT.center), "diameter_mm": 18.0},
        "ct/no_nodule": {"nodule_center_lps_mm": None},
        "dx/nodule": {"nodule_center_lps_mm": list(NODULE_DX.center), "diameter_mm": 22.0},
    }
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote samples under {HERE}")


if __name__ == "__main__":
    main()
