"""SIGKILL midway then resume; a crash between publishing and journaling; a dying worker."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from medcam.batch.engines.local import LocalEngine
from medcam.batch.plan import plan_folder
from medcam.batch.schedule import dispatch
from medcam.batch.worker import JobConfig

from .archive import make_clean_archive
from .helpers import (
    ENV,
    ROOT,
    batch_cmd,
    folder_stamp,
    last_run,
    manifest,
    run_batch_cli,
    same_manifest,
)

N_SERIES = 10
KILL_AFTER = 3


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(c) for c in text)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def kill_after_lines(archive: Path, out: Path, k: int) -> list[int]:
    """Start the CLI, SIGKILL it once the manifest has ``k`` lines; its worker pids."""
    proc = subprocess.Popen(batch_cmd(archive, out, "--workers", "2", "--quiet"), env=ENV,
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    journal = out / "manifest.jsonl"
    deadline = time.monotonic() + 300
    workers: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        workers = workers or children(proc.pid)
        if journal.exists() and journal.read_bytes().count(b"\n") >= k:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    workers = children(proc.pid) or workers
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    return workers


def test_sigkill_midway_then_resume_equals_an_uninterrupted_run(tmp_path):
    archive = make_clean_archive(tmp_path / "archive", N_SERIES)
    out = tmp_path / "out"
    workers = kill_after_lines(archive, out, KILL_AFTER)
    assert workers, "the run had started its workers"
    deadline = time.monotonic() + 15
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in workers), "workers outlived the killed run"
    journal = manifest(out)  # the torn line, if any, is left out
    done_before = {e["key"]: folder_stamp(out, e) for e in journal if e["status"] == "done"}
    assert len(done_before) >= KILL_AFTER
    assert not (out / "runs.jsonl").exists()  # the killed run never finished
    for study in (p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for folder in study.iterdir():  # a published folder is always complete
            assert (folder / "summary.json").is_file()

    resumed = run_batch_cli(archive, out, "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    stats = last_run(out)["series"]
    assert stats["done"] == N_SERIES
    assert stats["kept"] >= len(done_before)
    assert stats["kept"] + stats["processed"] + stats["adopted"] == N_SERIES
    for e in manifest(out):  # no series processed again after it was done
        if e["key"] in done_before:
            assert folder_stamp(out, e) == done_before[e["key"]]

    clean = tmp_path / "clean"
    assert run_batch_cli(archive, clean, "--workers", "2").returncode == 0
    assert same_manifest(out, clean)
    assert [e["key"] for e in manifest(clean)] == [e["key"] for e in manifest(out)]

    # a crash after publishing a folder but before its manifest line, and a copied
    # archive (new listing, same content): both adopted, nothing recomputed
    before = manifest(clean)
    lines = (clean / "manifest.jsonl").read_bytes().splitlines(keepends=True)
    (clean / "manifest.jsonl").write_bytes(b"".join(lines[:-1]))
    first_key = manifest(clean)[0]["key"]
    touched = next(u for u in plan_folder(archive).units if u.key == first_key).paths[0]
    os.utime(touched, ns=(10**9, 10**9))
    again = run_batch_cli(archive, clean, "--workers", "1")
    assert again.returncode == 0, again.stderr
    stats = last_run(clean)["series"]
    assert (stats["processed"], stats["adopted"], stats["kept"]) == (0, 2, N_SERIES - 2)
    after = manifest(clean)
    assert [e["listing_key"] != b["listing_key"] for e, b in zip(after, before, strict=True)] \
        == [e["key"] == first_key for e in after]
    drop = {"timings", "listing_key"}
    assert [{k: v for k, v in e.items() if k not in drop} for e in after] == \
        [{k: v for k, v in e.items() if k not in drop} for e in before]


def test_a_worker_killed_midway_is_replaced_and_its_series_retried(tmp_path):
    archive = make_clean_archive(tmp_path / "archive", 4)
    plan = plan_folder(archive)
    engine = LocalEngine(JobConfig("demo-ct3d", "gradcam", tmp_path / "out"), 1)
    engine.start()
    first_pid = engine._procs[0].pid
    entries = []

    def record(outcome):
        entries.append(outcome.entry)
        if len(entries) == 1:
            os.kill(first_pid, signal.SIGKILL)  # dies holding the prefetched series

    try:
        dispatch(engine, plan.units, record, lambda u: None)
    finally:
        engine.close()
    assert sorted(e.key for e in entries) == sorted(u.key for u in plan.units)
    assert {e.status for e in entries} == {"done"}
    assert not alive(first_pid)
