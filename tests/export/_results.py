"""Shared pieces of the result-set tests: maps, infos, sources and one build of the set."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset

from medcam.export.ko import build_key_objects
from medcam.export.pm import build_parametric_map
from medcam.export.seg import build_segmentation
from medcam.export.sr import build_sr
from medcam.export.types import CamScale, ExportedObject, HeatmapInfo
from medcam.export.write import write_object
from medcam.geometry import Geometry
from medcam.series import read_series
from medcam.series.types import Series
from medcam.synthetic.dicom import write_series
from medcam.synthetic.enhanced import write_enhanced_series
from tests.export._sources import AXIAL, SAGITTAL, oblique_direction, phantom

CORONAL = (0, 0, 1, 1, 0, 0, 0, -1, 0)  # slices posterior, rows to the feet, columns left
NODULE = ("27925004", "SCT", "Nodule")
INFO_CAL = HeatmapInfo(model_name="demo-ct3d", model_version="1.0", model_sha256="cd" * 32,
                       method="gradcam", target_class="lesion", probability=0.91,
                       raw_max=0.0261, scale=CamScale("calibrated", 0.02),
                       target_layers=("features.denseblock1",))


def blob_map(shape: tuple[int, ...], amplitude: float = 1.3,
             centre: tuple[float, float, float] | None = None) -> np.ndarray:
    """A Gaussian blob in voxel units; exceeds 1 at its peak when ``amplitude`` > 1."""
    n, rows, cols = shape
    c = centre or (n * 0.55, rows * 0.4, cols * 0.6)
    k, i, j = np.meshgrid(np.arange(n), np.arange(rows), np.arange(cols), indexing="ij")
    sigma = (max(n / 4, 0.7), rows / 6, cols / 6)
    r2 = sum(((a - m) / s) ** 2 for a, m, s in zip((k, i, j), c, sigma, strict=True))
    return (amplitude * np.exp(-r2)).astype(np.float32)


def peak_of(values: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.unravel_index(int(np.argmax(values)), values.shape))


def synthetic_series(root: Path, name: str, direction: tuple[float, ...] = AXIAL, *,
                     n: int = 5, rows: int = 24, cols: int = 20, descending: bool = False,
                     enhanced: bool = False) -> Series:
    """A series written by medcam's synthetic writer and read back by the series reader."""
    geo = Geometry((n, rows, cols), (2.5, 0.7, 0.8), (-100.0, -90.5, 30.0), direction,
                   f"1.2.826.0.1.3680043.8.498.{abs(hash(name)) % 10**9}")
    folder = root / name
    if enhanced:
        order = [int(v) for v in np.random.default_rng(3).permutation(n)]
        write_enhanced_series(phantom(n, rows, cols), geo, folder / "mf.dcm", frame_order=order,
                              uid_seed=name)
    else:
        write_series(phantom(n, rows, cols), geo, folder, descending=descending, uid_seed=name)
    return read_series(folder)


GEOMETRIES = {
    "axial": {"direction": AXIAL},
    "coronal": {"direction": CORONAL},
    "sagittal": {"direction": SAGITTAL},
    "oblique": {"direction": oblique_direction()},
    "axial-descending": {"direction": AXIAL, "descending": True},
    "enhanced-multiframe": {"direction": oblique_direction(10.0, 5.0), "enhanced": True},
}


@dataclass
class ResultSet:
    """One build of PM, SEG, SR and KOS, written to files."""

    pm: Dataset
    seg: Dataset | None
    sr: Dataset
    ko: Dataset
    records: dict[str, ExportedObject]
    peak: tuple[int, int, int]


def build_set(series: Series, values: np.ndarray, info: HeatmapInfo, out: Path, *,
              float_pixels: bool = True, threshold: float = 0.5) -> ResultSet:
    out.mkdir(parents=True, exist_ok=True)
    peak = peak_of(values)
    pm = build_parametric_map(series, values, info, float_pixels=float_pixels)
    seg = build_segmentation(series, values, info, threshold=threshold)
    sr = build_sr(series, info, pm=pm, seg=seg, peak_index=peak, finding=NODULE)
    ko = build_key_objects(series, values, info, k=3, references=(pm, sr))
    records = {"pm": write_object(pm, out, "PM.dcm", "pm"),
               "sr": write_object(sr, out, "SR.dcm", "sr"),
               "ko": write_object(ko, out, "KO.dcm", "ko")}
    if seg is not None:
        records["seg"] = write_object(seg, out, "SEG.dcm", "seg")
    return ResultSet(pm, seg, sr, ko, records, peak)


def source_key(series: Series, k: int) -> tuple[str, int | None]:
    return series.sop_instance_uids[k], series.frame_numbers[k]


def frame_sources(image: Dataset) -> list[tuple[str, int | None]]:
    """(source SOP Instance UID, source frame) of each frame of a derived image."""
    result = []
    for group in image.PerFrameFunctionalGroupsSequence:
        ref = group.DerivationImageSequence[0].SourceImageSequence[0]
        frame = ref.get("ReferencedFrameNumber")
        result.append((ref.ReferencedSOPInstanceUID, None if frame is None else int(frame)))
    return result


def quantisation_step(pm: Dataset) -> float:
    mapping = pm.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    return float(mapping.RealWorldValueSlope)


def real_world_by_slice(pm_path: Path, series: Series) -> np.ndarray:
    """The PM's first real-world mapping, read by highdicom, in the series' slice order."""
    pm = hd.pm.ParametricMap.from_dataset(pydicom.dcmread(pm_path))
    if series.frame_numbers[0] is None:
        arr = pm.get_pixels_by_source_instance(list(series.sop_instance_uids),
                                               apply_real_world_transform=True)
    else:
        arr = pm.get_pixels_by_source_frame(series.sop_instance_uids[0],
                                            [int(f) for f in series.frame_numbers],
                                            apply_real_world_transform=True)
    return np.asarray(arr, dtype=np.float64)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=0.0, abs_tol=1e-9)
