"""Stand-in pipelines for ``MEDCAM_WORKER_PIPELINE`` in unit tests (no torch).

``copy_as_sc`` writes one Secondary Capture per input with UIDs derived from the
input's, like the real exporter (deterministic). ``crash_on_marker`` kills its own
process when an input's Series Description is ``CRASH`` (a simulated OOM kill).
"""

from __future__ import annotations

import hashlib
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

from medcam.errors import NotAVolumeError


@dataclass(frozen=True)
class FakeResult:
    series_instance_uid: str
    study_instance_uid: str
    modality: str
    error: str | None = None
    error_type: str | None = None
    target: str | None = "lesion"
    probabilities: dict[str, float] = field(default_factory=dict)
    output_series_instance_uid: str | None = None
    files: tuple[str, ...] = ()
    outputs: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class FakeReport:
    results: tuple[FakeResult, ...]


def _uid(*parts: str) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


def _sc(src: Dataset, series_uid: str, number: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    sop = _uid("fake-sc", src.SOPInstanceUID)
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, sop
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
               "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber",
               "ReferringPhysicianName", "StudyID"):
        if kw in src:
            setattr(ds, kw, src[kw].value)
    ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = series_uid, 900, number
    ds.Modality, ds.ConversionType = "OT", "WSD"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.full((8, 8), number % 256, np.uint8).tobytes()
    return ds


def copy_as_sc(input_path: Path, out_dir: Path, *, model: str, method: str,
               target: str | None = None, target_layer: str | None = None,
               device: str = "cpu", outputs: str = "sc") -> FakeReport:
    files = sorted(Path(input_path).glob("*.dcm"))
    sources = [dcmread(f) for f in files]
    if any(str(s.get("SeriesDescription", "")) == "CRASH" for s in sources):
        os.kill(os.getpid(), signal.SIGKILL)
    if any(str(s.get("SeriesDescription", "")) == "BADGEOMETRY" for s in sources):
        raise NotAVolumeError("duplicate_position", "two slices share one position")
    sources.sort(key=lambda s: int(s.get("InstanceNumber", 0)))
    series_uid = _uid("fake-series", sources[0].SeriesInstanceUID, model, method)
    folder = Path(out_dir) / series_uid
    folder.mkdir(parents=True, exist_ok=True)
    rel, described = [], []
    for n, src in enumerate(sources, start=1):
        name = f"IM{n:06d}.dcm"
        sc = _sc(src, series_uid, n)
        sc.save_as(folder / name, enforce_file_format=True)
        rel.append(f"{series_uid}/{name}")
        described.append({"kind": "sc", "file": rel[-1], "sop_instance_uid": sc.SOPInstanceUID,
                          "sop_class_uid": sc.SOPClassUID})
    return FakeReport((FakeResult(
        series_instance_uid=sources[0].SeriesInstanceUID,
        study_instance_uid=sources[0].StudyInstanceUID, modality=str(sources[0].Modality),
        probabilities={"no_lesion": 0.25, "lesion": 0.75},
        output_series_instance_uid=series_uid, files=tuple(rel), outputs=tuple(described)),))
