"""Synthetic archives for the batch tests and the throughput benchmark."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom

from medcam.geometry import Geometry
from medcam.synthetic.dicom import deterministic_uid, write_series

#: Patient values written into every archive; they must never reach a manifest or log.
PATIENT_NAME = "CANARY^BATCH^PATIENT"
PATIENT_ID = "CANARY-ID-4711"


def ct_series(folder: Path, seed: str, *, study: str | None = None, slices: int = 8,
              size: int = 32, modality: str = "CT") -> list[Path]:
    """One small CT (or MR) series of random noise with a bright blob."""
    geometry = Geometry((slices, size, size), (5.0, 4.0, 4.0), (-64.0, -64.0, -20.0),
                        (0, 0, 1, 0, 1, 0, 1, 0, 0))
    rng = np.random.default_rng(abs(hash(seed)) % 2**32)
    volume = rng.normal(-700, 80, geometry.shape).astype(np.float32)
    z, y, x = (int(rng.integers(2, s - 2)) for s in geometry.shape)
    volume[max(0, z - 1):z + 2, y - 2:y + 3, x - 2:x + 3] = 60.0
    return write_series(volume, geometry, folder, modality=modality, uid_seed=seed,
                        study_instance_uid=study, patient_name=PATIENT_NAME,
                        patient_id=PATIENT_ID, extra={"PatientBirthDate": "19450203"})


def make_clean_archive(root: Path, n_series: int, *, slices: int = 8, size: int = 32,
                       per_study: int = 2) -> Path:
    """``n_series`` good CT series, ``per_study`` per study, in nested folders."""
    for i in range(n_series):
        study = deterministic_uid(f"study-{i // per_study}", "study")
        ct_series(root / f"site{i % 3}" / f"study{i // per_study}" / f"s{i}", f"series-{i}",
                  study=study, slices=slices, size=size)
    return root


def make_messy_archive(root: Path) -> dict[str, str]:
    """Good series plus everything an archive holds besides; returns series uid -> role.

    Roles: ``good``, ``good_with_duplicates``, ``bad_geometry``, ``truncated``,
    ``mr`` (skipped: the demo model takes CT), ``sr`` (a non-image series).
    """
    roles: dict[str, str] = {}
    study = deterministic_uid("messy-study", "study")

    def uid_of(paths: list[Path]) -> str:
        return str(pydicom.dcmread(paths[0], stop_before_pixels=True).SeriesInstanceUID)

    for n in range(2):
        roles[uid_of(ct_series(root / "a" / f"good{n}", f"good-{n}", study=study))] = "good"
    dup = ct_series(root / "b" / "dups", "dups", study=study)
    (root / "b" / "copies").mkdir(parents=True)
    for p in dup[:3]:  # byte-identical duplicate instances elsewhere in the tree
        shutil.copy(p, root / "b" / "copies" / f"copy-{p.name}")
    roles[uid_of(dup)] = "good_with_duplicates"
    geo = ct_series(root / "c" / "geo", "bad-geometry", study=study)
    ds = pydicom.dcmread(geo[3])
    ds.ImagePositionPatient = pydicom.dcmread(geo[4]).ImagePositionPatient
    ds.save_as(geo[3])
    roles[uid_of(geo)] = "bad_geometry"
    trunc = ct_series(root / "c" / "trunc", "truncated", study=study)
    data = trunc[5].read_bytes()
    trunc[5].write_bytes(data[: len(data) - 700])
    roles[uid_of(trunc)] = "truncated"
    roles[uid_of(ct_series(root / "d" / "mr", "mr", study=study, modality="MR"))] = "mr"
    sr = Path(pydicom.__file__).parent / "data" / "test_files" / "reportsi.dcm"
    (root / "e").mkdir(parents=True)
    shutil.copy(sr, root / "e" / "report.dcm")
    roles[str(pydicom.dcmread(sr).SeriesInstanceUID)] = "sr"
    (root / "e" / "notes.dcm").write_text("not DICOM at all, just a text file named .dcm")
    (root / "e" / "README.txt").write_text("archive index")
    (root / "e" / "garbage.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00" * 7)
    return roles
