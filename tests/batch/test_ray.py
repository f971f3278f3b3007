"""The Ray engine, on a local Ray started by the test, gives the local engine's manifest."""

from __future__ import annotations

import os
import secrets

import pytest

from medcam.batch import BatchOptions, run_batch
from medcam.batch.engines.ray import LOOPBACK_ONLY_ENV

from .archive import make_messy_archive
from .helpers import run_batch_cli, same_manifest

# Read by ray at import: every Ray server of this test on 127.0.0.1 (see engines/ray.py),
# and a token of our own, which another driver needs to join the test's Ray.
os.environ.setdefault(LOOPBACK_ONLY_ENV, "0")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
ray = pytest.importorskip("ray", reason="the batch extra (ray) is not installed")


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    # what a driver needs to join: the token, the auth mode, loopback (set by ray.init)
    yield {k: v for k, v in os.environ.items() if k.startswith("RAY_")}
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

    # another driver (the CLI) joins this cluster with --ray-address and starts no Ray
    address = ray.get_runtime_context().gcs_address
    assert address.startswith("127.0.0.1:")
    proc = run_batch_cli(tmp_path / "archive", tmp_path / "joined", "--engine", "ray",
                         "--workers", "2", "--ray-address", address,
                         env=local_ray)
    assert proc.returncode == 3, proc.stderr  # the messy archive has failures
    assert same_manifest(tmp_path / "joined", tmp_path / "local")
