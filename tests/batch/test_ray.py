"""The Ray engine, on a local Ray started by the test, gives the local engine's manifest."""

from __future__ import annotations

import pytest

from medcam.batch import BatchOptions, run_batch

from .archive import make_messy_archive
from .helpers import same_manifest

ray = pytest.importorskip("ray", reason="the batch extra (ray) is not installed")


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()


def test_ray_engine_gives_the_local_manifest(tmp_path, local_ray):
    make_messy_archive(tmp_path / "archive")
    common = {"archive": tmp_path / "archive", "workers": 2}
    by_ray = run_batch(BatchOptions(out_dir=tmp_path / "ray", engine="ray", **common))
    assert ray.is_initialized()  # the engine used the test's Ray and left it running
    by_local = run_batch(BatchOptions(out_dir=tmp_path / "local", **common))
    assert by_ray.stats["processed"] == by_local.stats["processed"] == 5
    assert [e.status for e in by_ray.entries].count("done") == 3
    assert same_manifest(tmp_path / "ray", tmp_path / "local")
