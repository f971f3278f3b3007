"""Synthetic DICOM sources for the export tests, built without the series loader.

Every source is written to disk as real DICOM files and its headers are read back
with pydicom (pixel data skipped), as the series loader would: patient attributes
therefore reach the exporter undecoded, with their raw bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

from medcam.export.types import HeatmapInfo
from medcam.geometry import Geometry
from medcam.series.types import Series

AXIAL = (0, 0, 1, 0, 1, 0, 1, 0, 0)  # columns: slice axis, row axis, column axis (LPS)
SAGITTAL = (-1, 0, 0, 0, 0, 1, 0, -1, 0)  # rows go to the feet, columns posterior


def oblique_direction(tilt_deg: float = 20.0, yaw_deg: float = 15.0) -> tuple[float, ...]:
    a, b = math.radians(tilt_deg), math.radians(yaw_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    rz = np.array([[math.cos(b), -math.sin(b), 0], [math.sin(b), math.cos(b), 0], [0, 0, 1]])
    return tuple((rz @ rx @ np.asarray(AXIAL, dtype=float).reshape(3, 3)).ravel())


@dataclass
class Source:
    """A synthetic source series and its files on disk."""

    series: Series
    paths: list[Path]


def _uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def phantom(n: int, rows: int, cols: int) -> np.ndarray:
    """HU volume: air, a body ellipse of soft tissue, a brighter blob."""
    k, i, j = np.meshgrid(np.arange(n), np.arange(rows), np.arange(cols), indexing="ij")
    body = ((i - rows / 2) / (rows * 0.42)) ** 2 + ((j - cols / 2) / (cols * 0.45)) ** 2 < 1
    blob = ((i - rows * 0.4) ** 2 + (j - cols * 0.6) ** 2) < (rows * 0.1) ** 2
    vol = np.where(body, 40.0, -1000.0) + np.where(blob, 300.0, 0.0) + 5.0 * k
    return vol.astype(np.float32)


def _context(h: Dataset, tag: str, charset: str | list[str] | None, name: bytes | str,
             modality: str) -> None:
    if charset is not None:
        h.SpecificCharacterSet = charset
    h.PatientName = name
    h.PatientID = "PID-TEST-0001"
    h.PatientBirthDate = "19700101"
    h.PatientSex = "F"
    h.StudyInstanceUID = _uid(tag, "study")
    h.StudyDate, h.StudyTime = "20240102", "101500"
    h.StudyID, h.AccessionNumber = "S1", "ACC0001"
    h.ReferringPhysicianName = "Ref^Doc"
    h.StudyDescription = "CHEST"
    h.SeriesInstanceUID = _uid(tag, "series")
    h.SeriesNumber = 3
    h.Modality = modality
    h.Manufacturer = "ACME"


def _pixels(h: Dataset, arr: np.ndarray, photometric: str) -> None:
    h.Rows, h.Columns = arr.shape[-2:]
    h.SamplesPerPixel = 1
    h.PhotometricInterpretation = photometric
    h.BitsAllocated, h.BitsStored, h.HighBit, h.PixelRepresentation = 16, 16, 15, 1
    h.RescaleIntercept, h.RescaleSlope, h.RescaleType = 0, 1, "US"
    h.PixelData = np.rint(arr).astype("<i2").tobytes()


def _write(ds: Dataset, path: Path) -> Dataset:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return pydicom.dcmread(path, stop_before_pixels=True)


def make_volume(root: Path, tag: str = "ct", *, n: int = 4, rows: int = 32, cols: int = 32,
                direction: tuple[float, ...] = AXIAL, modality: str = "CT",
                charset: str | list[str] | None = None, name: bytes | str = "Doe^Jane",
                window: tuple[float, float] | None = (40.0, 400.0),
                spacing: tuple[float, float, float] = (2.5, 0.7, 0.8),
                multiframe: bool = False) -> Source:
    """A CT/MR-like volume written as single-frame files (or one multi-frame file)."""
    folder = root / f"src-{tag}"
    folder.mkdir()
    arr = phantom(n, rows, cols)
    geo = Geometry((n, rows, cols), spacing, (-120.0, -95.5, 33.0), direction,
                   _uid(tag, "for"))
    sop_class = EnhancedCTImageStorage if multiframe else (
        MRImageStorage if modality == "MR" else CTImageStorage)
    iop = [*geo.direction_matrix[:, 2], *geo.direction_matrix[:, 1]]
    headers, paths, sop_uids = [], [], []
    for k in range(1 if multiframe else n):
        h = Dataset()
        _context(h, tag, charset, name, modality)
        h.SOPClassUID, h.SOPInstanceUID = sop_class, _uid(tag, "sop", k)
        h.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        h.InstanceNumber = k + 1
        h.ContentDate, h.ContentTime = "20240102", f"1016{k:02d}"
        h.FrameOfReferenceUID, h.PositionReferenceIndicator = geo.frame_of_reference_uid, ""
        if window is not None:
            h.WindowCenter, h.WindowWidth = window
        if multiframe:
            h.NumberOfFrames = n
            _pixels(h, arr, "MONOCHROME2")
        else:
            ipp = geo.index_to_lps((k, 0, 0))
            h.ImagePositionPatient = [round(float(v), 4) for v in ipp]
            h.ImageOrientationPatient = [round(float(v), 6) for v in iop]
            h.PixelSpacing = list(spacing[1:])
            h.SliceThickness = spacing[0]
            h.SliceLocation = round(float(ipp @ geo.slice_normal), 4)
            _pixels(h, arr[k], "MONOCHROME2")
        paths.append(folder / f"{k:04d}.dcm")
        headers.append(_write(h, paths[-1]))
        sop_uids.append(h.SOPInstanceUID)
    if multiframe:
        headers, sop_uids = headers * n, sop_uids * n
    series = Series(arr, geo, headers[0].StudyInstanceUID, headers[0].SeriesInstanceUID,
                    sop_class, modality, tuple(sop_uids),
                    tuple(range(1, n + 1)) if multiframe else (None,) * n, tuple(headers),
                    "MONOCHROME2", window, True, tuple(paths))
    return Source(series, paths)


def make_projection(root: Path, tag: str = "dx", *, rows: int = 48, cols: int = 40,
                    charset: str | list[str] | None = None, name: bytes | str = "Doe^Jane",
                    photometric: str = "MONOCHROME1", sop_class: str | None = None,
                    modality: str = "DX", window: tuple[float, float] | None = None,
                    extra: Dataset | None = None,
                    spacing_keyword: str = "PixelSpacing") -> Source:
    """A single 2-D projection image (DX-like) without patient geometry.

    ``spacing_keyword`` names the attribute that carries the 0.15 mm spacing
    (``PixelSpacing`` or ``ImagerPixelSpacing``, as DX/CR sources often have).
    """
    folder = root / f"src-{tag}"
    folder.mkdir()
    arr = phantom(1, rows, cols) + 1000.0
    h = Dataset()
    _context(h, tag, charset, name, modality)
    h.SOPClassUID = sop_class or DigitalXRayImageStorageForPresentation
    h.SOPInstanceUID = _uid(tag, "sop")
    h.ImageType = ["ORIGINAL", "PRIMARY"]
    h.InstanceNumber = 1
    setattr(h, spacing_keyword, [0.15, 0.15])
    h.PatientOrientation = ["L", "F"]
    for elem in extra or ():
        h[elem.tag] = elem
    _pixels(h, arr[0], photometric)
    path = folder / "0000.dcm"
    header = _write(h, path)
    geo = Geometry((1, rows, cols), (1.0, 0.15, 0.15), (0.0, 0.0, 0.0), AXIAL)
    series = Series(arr, geo, header.StudyInstanceUID, header.SeriesInstanceUID,
                    header.SOPClassUID, modality, (header.SOPInstanceUID,), (None,),
                    (header,), photometric, window, False, (path,))
    return Source(series, [path])


def peaked_cam(shape: tuple[int, int, int], slice_levels: list[float] | None = None
               ) -> np.ndarray:
    """A per-volume normalised map: a Gaussian blob, each slice scaled by a level."""
    n, rows, cols = shape
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    di, dj = (i - rows * 0.4) / (rows * 0.2), (j - cols * 0.6) / (cols * 0.2)
    blob = np.exp(-(di**2 + dj**2))
    levels = slice_levels or [1.0 if k == n // 2 else 0.3 + 0.1 * k for k in range(n)]
    cam = np.stack([blob / blob.max() * lev for lev in levels]).astype(np.float32)
    return np.clip(cam / cam.max(), 0.0, 1.0)


INFO = HeatmapInfo(model_name="demo-ct3d", model_version="1.0", model_sha256="ab" * 32,
                   method="gradcam", target_class="lesion", probability=0.97, raw_max=0.0123)
