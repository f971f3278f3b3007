"""Issue 12 findings 4 and 5, and a bounded fuzz of the CLI contract on the sample series.

The contract, for every input: exit 0, 2 or 3 (never 1); on exit 2 stderr is exactly
one ``error: `` line, no traceback, nothing in ``--out`` and no staging folder; no
patient data of the sample (Patient Name / ID) on stderr.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from medcam.cli import main

ROOT = Path(__file__).resolve().parents[2]
NODULE = ROOT / "sample_dicoms" / "ct" / "nodule"
FUZZ_BUDGET_S = 40.0
RANDOM_BUDGET_S = 50.0


def _run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # argparse usage errors
            rc = int(exc.code or 0)
    return rc, err.getvalue()


def _assert_contract(rc: int, stderr: str, out: Path, case: str) -> None:
    assert rc in (0, 2, 3), (case, rc, stderr)
    assert "Traceback" not in stderr, case
    assert "SYNTHETIC" not in stderr and "SYN0001" not in stderr, case
    if rc == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (case, stderr)
        assert not out.exists(), case
    assert not list(out.parent.glob(f".{out.name}.staging-*")), case


def test_missing_path_is_named_as_typed(tmp_path: Path) -> None:
    typed = str(tmp_path / "no-such-folder")
    rc, err = _run("explain", typed, "--out", str(tmp_path / "o"))
    assert rc == 2 and err == f"error: input path {typed!r} does not exist\n"


def test_cuda_without_cuda_is_exit_2(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the refusal is tested by test_device_check")
    rc, err = _run("explain", str(NODULE), "--out", str(tmp_path / "o"), "--device", "cuda")
    assert rc == 2 and err.startswith("error: device cuda") and err.count("\n") == 1


@pytest.mark.parametrize("name", ["JPEG-lossy.dcm", "JPEG2000-embedded-sequence-delimiter.dcm"])
def test_pydicom_decoder_failures_are_one_line(tmp_path: Path, name: str) -> None:
    rc, err = _run("explain", str(get_testdata_file(name)), "--out", str(tmp_path / "o"),
                   "--outputs", "sc")
    _assert_contract(rc, err, tmp_path / "o", name)
    assert rc == 2 and "unreadable" in err


def _cli_subprocess(*argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "medcam", *argv], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_staging(parent: Path, out: Path, proc: subprocess.Popen[str]) -> Path:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(parent.glob(f".{out.name}.staging-*"))
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError("the run never created its staging folder")


def test_sigterm_cleans_and_sigkill_leftovers_are_swept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _cli_subprocess("explain", str(NODULE), "--out", str(out), "--outputs", "sc")
    _wait_for_staging(tmp_path, out, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and err.strip() == "error: terminated"
    assert not list(tmp_path.glob(".out.staging-*")) and not out.exists()
    proc = _cli_subprocess("explain", str(NODULE), "--out", str(out), "--outputs", "sc")
    left = _wait_for_staging(tmp_path, out, proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert left.exists()  # SIGKILL leaves it; the next run sweeps it before working
    rc, err = _run("explain", str(NODULE), "--out", str(out), "--outputs", "sc", "--quiet")
    assert rc == 0, err
    assert not left.exists()


def _subset(folder: Path) -> list[Path]:
    files = sorted(NODULE.glob("*.dcm"), key=lambda p: float(
        pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]))[24:40]
    folder.mkdir()
    return [Path(shutil.copy(f, folder / f.name)) for f in files]


def _set(path: Path, **tags: object) -> None:
    ds = pydicom.dcmread(path)
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.save_as(path)


def _mutations(rng: np.random.Generator) -> list[tuple[str, object]]:
    def trunc(paths: list[Path], k: int, frac: float) -> None:
        data = paths[k].read_bytes()
        paths[k].write_bytes(data[: int(len(data) * frac)])

    def flip(paths: list[Path], k: int) -> None:
        data = bytearray(paths[k].read_bytes())
        for i in rng.integers(132, len(data), 24):
            data[i] ^= 0xFF
        paths[k].write_bytes(bytes(data))

    return [
        ("trunc-first", lambda p: trunc(p, 0, 0.7)),
        ("trunc-mid-header", lambda p: trunc(p, 7, 0.2)),
        ("trunc-last-tiny", lambda p: trunc(p, -1, 0.05)),
        ("flip-mid", lambda p: flip(p, 8)),
        ("drop-mid", lambda p: p[6].unlink()),
        ("duplicate-moved", lambda p: (shutil.copy(p[3], p[3].with_name("dup.dcm")),
                                       _set(p[3].with_name("dup.dcm"), SOPInstanceUID="2.25.9"))),
        ("spacing-zero", lambda p: _set(p[4], PixelSpacing=[0, 0])),
        ("spacing-negative", lambda p: [_set(f, PixelSpacing=[-2.5, 2.5]) for f in p]),
        ("spacing-nan", lambda p: _set(p[5], PixelSpacing=["NaN", "2.5"])),
        ("huge-rows", lambda p: _set(p[2], Rows=65535, Columns=65535)),
        ("bad-uid", lambda p: [_set(f, SeriesInstanceUID="1.2.x..") for f in p]),
        ("odd-transfer-syntax", lambda p: [setattr(d := pydicom.dcmread(f), "file_meta",
                                                   d.file_meta) or
                                           d.file_meta.__setattr__("TransferSyntaxUID",
                                                                   "1.2.3.4.5")
                                           or d.save_as(f, enforce_file_format=False)
                                           for f in p[:1]]),
        ("nan-position", lambda p: _set(p[9], ImagePositionPatient=["NaN", "0", "0"])),
        ("slope-zero", lambda p: _set(p[10], RescaleSlope=0)),
    ]


def test_fuzz_cli_contract(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    start = time.monotonic()
    ran = []
    for name, mutate in _mutations(rng):
        if time.monotonic() - start > FUZZ_BUDGET_S:
            break
        case = tmp_path / name
        case.mkdir()
        paths = _subset(case / "in")
        mutate(paths)  # type: ignore[operator]
        out = case / "out"
        rc, err = _run("explain", str(case / "in"), "--out", str(out), "--outputs", "sc",
                       "--quiet")
        _assert_contract(rc, err, out, name)
        ran.append((name, rc))
    k = 0
    while time.monotonic() - start < RANDOM_BUDGET_S:  # random cut/flip of random slices
        case = tmp_path / f"random-{k}"
        case.mkdir()
        paths = _subset(case / "in")
        for i in rng.choice(len(paths), size=int(rng.integers(1, 4)), replace=False):
            data = bytearray(paths[i].read_bytes())
            if rng.random() < 0.5:
                data = data[: int(rng.integers(0, len(data)))]
            else:
                for j in rng.integers(0, len(data), int(rng.integers(1, 64))):
                    data[j] = int(rng.integers(0, 256))
            paths[i].write_bytes(bytes(data))
        out = case / "out"
        rc, err = _run("explain", str(case / "in"), "--out", str(out), "--outputs", "sc",
                       "--quiet")
        _assert_contract(rc, err, out, case.name)
        ran.append((case.name, rc))
        k += 1
    assert len(ran) >= 8, ran
    assert {rc for _, rc in ran} >= {0, 2}, ran
