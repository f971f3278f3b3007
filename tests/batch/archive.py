"""Synthetic archives for the batch tests and the throughput benchmark."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom

from medcam.synthetic.archive import write_ct_archive, write_small_ct
from medcam.synthetic.dicom import deterministic_uid

#: Patient values written into every archive; they must never reach a manifest or log.
PATIENT_NAME = "CANARY^BATCH^PATIENT"
PATIENT_ID = "CANARY-ID-4711"


def ct_series(folder: Path, seed: str, **kwargs) -> list[Path]:
    """One small series carrying the canary patient values."""
    return write_small_ct(folder, seed, patient_name=PATIENT_NAME, patient_id=PATIENT_ID,
                          extra={"PatientBirthDate": "19450203"}, **kwargs)


def make_clean_archive(root: Path, n_series: int) -> Path:
    """``n_series`` good CT series with the canary patient values."""
    return write_ct_archive(root, n_series, patient_name=PATIENT_NAME, patient_id=PATIENT_ID,
                            extra={"PatientBirthDate": "19450203"})


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


def make_mixed_archive(root: Path) -> dict[str, str]:
    """One study holding a CT volume, a chest radiograph, a CT scout and an SR.

    Returns series uid -> role (``ct``, ``dx``, ``scout``, ``sr``).
    """
    import numpy as np

    from medcam.synthetic.projection import write_projection

    study = deterministic_uid("mixed-study", "study")

    def uid_of(paths: list[Path]) -> str:
        return str(pydicom.dcmread(paths[0], stop_before_pixels=True).SeriesInstanceUID)

    roles = {uid_of(ct_series(root / "ct", "mixed-ct", study=study)): "ct",
             uid_of(write_small_ct(root / "scout", "mixed-scout", study=study,
                                   patient_name=PATIENT_NAME, patient_id=PATIENT_ID,
                                   extra={"ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"]})):
                 "scout"}
    image = np.random.default_rng(7).uniform(0, 1, (64, 64)).astype(np.float32)
    dx = write_projection(image, (2.5, 2.5), root / "dx" / "dx.dcm", study_instance_uid=study,
                          uid_seed="mixed-dx", patient_name=PATIENT_NAME, patient_id=PATIENT_ID,
                          extra={"BodyPartExamined": "CHEST"})
    roles[uid_of([dx])] = "dx"
    sr = pydicom.dcmread(Path(pydicom.__file__).parent / "data" / "test_files" / "reportsi.dcm")
    sr.StudyInstanceUID = study
    (root / "sr").mkdir(parents=True)
    sr.save_as(root / "sr" / "report.dcm")
    roles[str(sr.SeriesInstanceUID)] = "sr"
    return roles
