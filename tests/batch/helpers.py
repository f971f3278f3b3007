"""Running ``medcam batch`` and reading what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from medcam.batch import comparable, read_manifest

from .archive import PATIENT_ID, PATIENT_NAME

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def batch_cmd(archive: Path | str, out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "medcam", "batch", str(archive), "--out", str(out), *args]


def run_batch_cli(archive: Path | str, out: Path, *args: str, timeout: float = 600,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(batch_cmd(archive, out, *args), capture_output=True, text=True,
                          timeout=timeout, check=False, env={**ENV, **(env or {})}, cwd=ROOT)


def manifest(out: Path) -> list[dict[str, Any]]:
    return read_manifest(out / "manifest.jsonl")


def same_manifest(a: Path, b: Path) -> bool:
    """Equal once the timing fields are dropped."""
    return [comparable(e) for e in manifest(a)] == [comparable(e) for e in manifest(b)]


def last_run(out: Path) -> dict[str, Any]:
    return json.loads((out / "runs.jsonl").read_text().splitlines()[-1])


def assert_no_phi(*texts: str) -> None:
    for text in texts:
        for value in (PATIENT_NAME, PATIENT_ID, "19450203", "CANARY"):
            assert value not in text


def output_texts(out: Path) -> list[str]:
    """Manifest, run log and every summary.json."""
    files = [out / "manifest.jsonl", out / "runs.jsonl", *out.rglob("summary.json")]
    return [f.read_text() for f in files]


def folder_stamp(out: Path, entry: dict[str, Any]) -> tuple[int, int]:
    """(inode of the output folder, mtime of its summary.json): changes if redone."""
    folder = out / entry["output_dir"]
    return folder.stat().st_ino, (folder / "summary.json").stat().st_mtime_ns
