"""DICOM SEG ground truth: written with highdicom, read back onto the series grid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medcam.audit.errors import GroundTruthError
from medcam.audit.seg import find_segmentations, map_volume_to_geometry, read_ground_truth
from medcam.audit.segwrite import write_ground_truth
from medcam.geometry import Geometry
from medcam.series import find_series, read_series
from medcam.synthetic.dicom import write_series
from tests.audit.conftest import SAMPLES

AXIAL = (0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0)


def _series(folder: Path, frame: str, uid_seed: str) -> list[Path]:
    geometry = Geometry((4, 8, 8), (5.0, 2.0, 2.0), (0.0, 0.0, 0.0), AXIAL, frame)
    volume = np.full(geometry.shape, -1000.0, dtype=np.float32)
    return write_series(volume, geometry, folder, uid_seed=uid_seed, frame_of_reference_uid=frame)


def _mask() -> np.ndarray:
    mask = np.zeros((4, 8, 8), dtype=bool)
    mask[1:3, 2:5, 3:6] = True
    return mask


def test_sample_seg_maps_by_instance_onto_the_nodule():
    manifest = json.loads((SAMPLES / "manifest.json").read_text())
    series = read_series(find_series(SAMPLES / "case02")[0])
    (seg_path,) = find_segmentations(SAMPLES / "case02")
    gt = read_ground_truth(seg_path, series)
    assert gt.mapping == "instances"
    assert gt.segment_labels == ("nodule",)
    assert int(gt.mask.sum()) == manifest["case02"]["mask_voxels"]
    centroid = series.geometry.index_to_lps(np.argwhere(gt.mask).mean(axis=0))
    assert np.linalg.norm(centroid - manifest["case02"]["nodule_center_lps_mm"]) < 5.0
    assert not gt.mask.flags.writeable
    assert "voxels=" in repr(gt)


def test_roundtrip_by_instance_and_by_geometry(tmp_path):
    source = _series(tmp_path / "a", "1.2.3.4", "seg-a")
    seg = write_ground_truth(_mask(), source, tmp_path / "seg.dcm",
                             series_instance_uid="1.2.3.5", sop_instance_uid="1.2.3.6")
    same = read_ground_truth(seg, read_series(tmp_path / "a"))
    assert same.mapping == "instances"
    assert np.array_equal(same.mask, _mask())
    _series(tmp_path / "b", "1.2.3.4", "seg-b")  # another series in the same frame
    other = read_ground_truth(seg, read_series(tmp_path / "b"))
    assert other.mapping == "geometry"
    assert np.array_equal(other.mask, _mask())


def test_unrelated_series_and_bad_segments_raise(tmp_path):
    source = _series(tmp_path / "a", "1.2.3.4", "seg-a")
    seg = write_ground_truth(_mask(), source, tmp_path / "seg.dcm",
                             series_instance_uid="1.2.3.5", sop_instance_uid="1.2.3.6")
    _series(tmp_path / "c", "1.2.3.99", "seg-c")
    with pytest.raises(GroundTruthError, match="Frame of Reference"):
        read_ground_truth(seg, read_series(tmp_path / "c"))
    with pytest.raises(GroundTruthError, match="segments"):
        read_ground_truth(seg, read_series(tmp_path / "a"), segment_numbers=[2])
    (tmp_path / "junk.dcm").write_bytes(b"not dicom")
    with pytest.raises(GroundTruthError):
        read_ground_truth(tmp_path / "junk.dcm", read_series(tmp_path / "a"))
    with pytest.raises(GroundTruthError):
        write_ground_truth(np.zeros((4, 8, 8), bool), source, tmp_path / "empty.dcm",
                           series_instance_uid="1.2.3.7", sop_instance_uid="1.2.3.8")


def test_map_volume_to_geometry_nearest_neighbour():
    values = np.zeros((2, 3, 3), dtype=bool)
    values[1, 2, 0] = True
    affine = np.diag([4.0, 2.0, 2.0, 1.0])  # index (k, i, j) -> (4k, 2i, 2j)
    target = Geometry((3, 6, 6), (2.0, 1.0, 1.0), (0.0, 0.0, 0.0),
                      (1, 0, 0, 0, 1, 0, 0, 0, 1))
    out = map_volume_to_geometry(values, affine, target)
    # Target voxel (k, i, j) sits at (2k, i, j) mm -> source index round(2k/4, i/2, j/2).
    expected = {(k, i, j) for k in range(3) for i in range(6) for j in range(6)
                if round(2 * k / 4) == 1 and round(i / 2) == 2 and round(j / 2) == 0}
    assert set(map(tuple, np.argwhere(out))) == expected
