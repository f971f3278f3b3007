"""Planning, keys, journal and scheduling of medcam batch: no model, no workers."""

from __future__ import annotations

import os
import shutil
from collections import deque
from pathlib import Path

import pydicom
import pytest

from medcam.batch.dicomweb import is_dicomweb_url, parse_query
from medcam.batch.manifest import Journal, ManifestEntry, comparable, read_manifest
from medcam.batch.plan import plan_folder
from medcam.batch.scancache import ScanCache
from medcam.batch.schedule import DEPTH, Event, dispatch
from medcam.batch.units import ModelIdentity, content_key, reason_code
from medcam.batch.worker import Outcome
from medcam.errors import BatchError, NotAVolumeError, PixelDataError

from .archive import PATIENT_ID, PATIENT_NAME, ct_series, make_messy_archive

MODEL = ModelIdentity("demo", "1.0", "0" * 64)


def entry(key: str, status: str = "done", study: str = "1.2", **kw) -> ManifestEntry:
    reason = None if status == "done" else "x"
    return ManifestEntry(key=key, study_instance_uid=study, series_instance_uid=key,
                         modality="CT", status=status, model=MODEL, method="gradcam",
                         reason=reason, **kw)


def test_plan_of_a_messy_archive(tmp_path):
    roles = make_messy_archive(tmp_path / "a")
    plan = plan_folder(tmp_path / "a")
    by_uid = {u.series_instance_uid: u for u in plan.units}
    assert {roles[u] for u in by_uid} == {"good", "good_with_duplicates", "bad_geometry",
                                          "truncated", "mr"}
    assert [(roles[o.series_instance_uid], o.status, o.reason) for o in plan.outcomes] == [
        ("sr", "skipped", "not_an_image_series")]
    dups = next(u for uid, u in by_uid.items() if roles[uid] == "good_with_duplicates")
    assert (len(dups.paths), dups.n_instances) == (11, 8)
    assert dict(plan.counts) == {"files": 55, "not_dicom": 2, "corrupt": 1, "unreadable": 0,
                                 "no_series_uid": 0}
    assert all(not u.warnings for u in plan.units)
    assert [u.key for u in plan.units] == sorted(u.key for u in plan.units)  # one study
    assert PATIENT_NAME not in repr(plan) and PATIENT_ID not in repr(plan)


def test_unreadable_file_beside_a_series_is_a_warning(tmp_path):
    paths = ct_series(tmp_path / "s", "warn")
    paths[0].write_bytes(paths[0].read_bytes()[:200])  # cut inside the header
    plan = plan_folder(tmp_path)
    assert plan.counts["corrupt"] + plan.counts["no_series_uid"] == 1
    assert len(plan.units) == 1 and plan.units[0].n_instances == 7
    assert "may have been a slice" in plan.units[0].warnings[0]


def test_series_of_broken_headers_only_is_a_planned_failure(tmp_path):
    for p in ct_series(tmp_path / "s", "stripped"):
        ds = pydicom.dcmread(p)
        del ds.PixelData, ds.Rows, ds.Columns
        ds.save_as(p)
    plan = plan_folder(tmp_path)
    assert not plan.units
    assert [(o.status, o.reason, o.n_instances) for o in plan.outcomes] == [
        ("failed", "broken_headers", 8)]


def test_listing_and_content_keys(tmp_path):
    paths = ct_series(tmp_path / "a", "keys")
    first = plan_folder(tmp_path / "a").units[0]
    assert plan_folder(tmp_path / "a").units[0].listing_key == first.listing_key
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # new mtimes: new listing, same content
    os.utime(tmp_path / "b" / paths[0].relative_to(tmp_path / "a"), ns=(1, 1))
    moved = plan_folder(tmp_path / "b").units[0]
    assert moved.listing_key != first.listing_key
    assert content_key(moved.paths) == content_key(first.paths)
    shutil.copy(paths[0], tmp_path / "a" / "dup.dcm")  # a duplicate copy: same content
    assert content_key([*paths, tmp_path / "a" / "dup.dcm"]) == content_key(paths)
    before = content_key(paths)
    paths[1].write_bytes(paths[1].read_bytes()[:-2] + b"\x01\x02")
    assert content_key(paths) != before


def test_scan_cache_skips_known_files_and_holds_no_paths(tmp_path):
    paths = ct_series(tmp_path / "a" / "Doe^Jane", "cache")
    cache_file = tmp_path / "scan-cache.jsonl"
    first = ScanCache(cache_file)
    plan = plan_folder(tmp_path / "a", cache=first)
    first.save()
    assert first.n_parsed == 8
    second = ScanCache(cache_file)
    assert plan_folder(tmp_path / "a", cache=second) == plan
    assert second.n_parsed == 0
    paths[2].write_bytes(paths[2].read_bytes())  # rewritten: new mtime, read again
    os.utime(paths[2], ns=(5 * 10**9, 5 * 10**9))
    third = ScanCache(cache_file)
    changed = plan_folder(tmp_path / "a", cache=third)
    third.save()
    assert changed.units[0].paths == plan.units[0].paths
    assert changed.units[0].listing_key != plan.units[0].listing_key
    assert third.n_parsed == 1
    text = cache_file.read_text()
    assert "Doe" not in text and ".dcm" not in text
    cache_file.write_text("not json")
    assert plan_folder(tmp_path / "a", cache=ScanCache(cache_file)) == changed  # rebuilt


def test_reason_codes():
    assert reason_code(NotAVolumeError("duplicate_position", "x")) == \
        "not_a_volume.duplicate_position"
    assert reason_code(PixelDataError("x")) == "pixel_data"
    assert reason_code(KeyError("patient")) == "internal_error"


def test_journal_replay_repairs_a_torn_line_and_compacts(tmp_path):
    journal = Journal(tmp_path / "manifest.jsonl")
    journal.append(entry("1.3", "failed"))
    journal.append(entry("1.1", timings={"total": 1.0}))
    journal.append(entry("1.3", timings={"total": 2.0}))
    journal.close()
    with open(tmp_path / "manifest.jsonl", "ab") as fh:
        fh.write(b'{"schema":1,"key":"1.9","sta')  # killed mid-write
    state = Journal(tmp_path / "manifest.jsonl").replay()
    assert {k: e.status for k, e in state.items()} == {"1.1": "done", "1.3": "done"}
    assert (tmp_path / "manifest.jsonl").read_bytes().endswith(b"\n")
    journal = Journal(tmp_path / "manifest.jsonl")
    journal.append(entry("1.2", "skipped", study="1.0"))
    journal.compact([*state.values(), entry("1.2", "skipped", study="1.0")])
    lines = read_manifest(tmp_path / "manifest.jsonl")
    assert [d["key"] for d in lines] == ["1.2", "1.1", "1.3"]  # study, then series
    assert comparable(lines[2]) == comparable(entry("1.3").to_dict())
    assert "timings" not in comparable(lines[2])


def test_entry_validation():
    with pytest.raises(ValueError, match="reason"):
        ManifestEntry("1", "1", "1", "CT", "failed", MODEL, "gradcam")
    with pytest.raises(ValueError, match="status"):
        ManifestEntry("1", "1", "1", "CT", "lost", MODEL, "gradcam")


def test_query_parsing():
    assert is_dicomweb_url("https://pacs/dicom-web") and not is_dicomweb_url("/data/a")
    study, series = parse_query("ModalitiesInStudy=CT&StudyDate=20240101-&Modality=CT"
                                "&0020000E=1.2")
    assert study == {"ModalitiesInStudy": "CT", "StudyDate": "20240101-"}
    assert series == {"Modality": "CT", "0020000E": "1.2"}
    assert parse_query(None) == ({}, {})
    for bad in ("ModalitiesInStudy", "Bad Key=1", "../x=1"):
        with pytest.raises(BatchError):
            parse_query(bad)


class FakeEngine:
    """Runs units instantly; ``crash`` lists units that kill their worker."""

    def __init__(self, n_workers: int, crash: set[str]) -> None:
        self.n_workers, self.crash = n_workers, crash
        self.held: dict[int, deque] = {w: deque() for w in range(n_workers)}
        self.max_held = 0
        self.restarts = 0

    def submit(self, worker, unit):
        self.held[worker].append(unit)
        self.max_held = max(self.max_held, len(self.held[worker]))

    def wait(self, timeout_s):
        for w, units in self.held.items():
            if units:
                if any(u.key in self.crash for u in units):  # dies with all it holds
                    return [Event(w, None)]
                unit = units.popleft()
                return [Event(w, Outcome(entry(unit.key)))]
        return []

    def restart(self, worker):
        self.held[worker].clear()
        self.restarts += 1


def test_dispatch_isolates_the_unit_that_kills_its_worker(tmp_path):
    from medcam.batch.units import WorkUnit

    units = [WorkUnit(f"1.{i}", "1", f"1.{i}", "CT", (tmp_path,), 1, "k") for i in range(7)]
    engine = FakeEngine(2, crash={"1.3"})
    recorded = []
    dispatch(engine, units, lambda o: recorded.append(o.entry),
             lambda u: entry(u.key, "failed"))
    statuses = {e.key: e.status for e in recorded}
    assert statuses == {**{f"1.{i}": "done" for i in range(7)}, "1.3": "failed"}
    assert len(recorded) == 7  # each unit recorded once
    assert engine.max_held == DEPTH
    assert engine.restarts == 2  # once with a neighbour in flight, once alone


def test_symlink_loop_is_a_counted_skip(tmp_path: Path) -> None:
    """Issue 12 finding 5: a file symlink loop used to stop the whole plan (RuntimeError)."""
    import numpy as np

    from medcam.geometry import Geometry
    from medcam.synthetic.dicom import write_series as _write

    geometry = Geometry((4, 8, 8), (3.0, 2.0, 2.0), (0.0, 0.0, 0.0),
                        (0, 0, 1, 0, 1, 0, 1, 0, 0))
    _write(np.zeros(geometry.shape, np.float32), geometry, tmp_path, uid_seed="loop")
    (tmp_path / "a.dcm").symlink_to(tmp_path / "b.dcm")
    (tmp_path / "b.dcm").symlink_to(tmp_path / "a.dcm")
    plan = plan_folder(tmp_path)
    assert plan.counts["unreadable"] == 2 and len(plan.units) == 1
    assert plan.units[0].warnings


def test_medcams_own_result_set_is_never_planned_again(tmp_path):
    """SC, PM, SEG, SR and KOS written by medcam beside their source: one unit (the source)."""
    from medcam.run import explain_folder

    ct_series(tmp_path / "archive" / "ct", "own-outputs")
    report = explain_folder(tmp_path / "archive" / "ct", tmp_path / "archive" / "results")
    written = {o["series_instance_uid"]: o["kind"] for o in report.results[0].outputs}
    assert {"sc", "pm", "sr", "ko"} <= set(written.values())
    plan = plan_folder(tmp_path / "archive")
    assert [u.series_instance_uid for u in plan.units] == [report.results[0].series_instance_uid]
    assert {o.series_instance_uid: o.reason for o in plan.outcomes} == dict.fromkeys(
        written, "medcam_output")
