"""The bounded model cache (medcam/model/cache.py): least recently used first, within
a count and a memory budget, thread-safe, a failed load raises for its caller only."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from medcam.errors import ModelError, WeightsMismatchError
from medcam.model.cache import ModelCache, model_bytes
from medcam.model.spec import BUILTIN_DIR

MB = 1 << 20


def spec_copy(tmp_path: Path, name: str, base: str = "demo-dx2d", weights: bytes | None = None,
              sha256: str | None = None) -> str:
    """A spec file of a built-in under another name (optionally other weights bytes)."""
    data = json.loads((BUILTIN_DIR / f"{base}.json").read_text())
    path = BUILTIN_DIR / data["weights"]
    if weights is not None:
        path = tmp_path / f"{name}.pt"
        path.write_bytes(weights)
    data.update(name=name, weights=str(path.resolve()),
                sha256=sha256 or hashlib.sha256(path.read_bytes()).hexdigest())
    spec = tmp_path / f"{name}.json"
    spec.write_text(json.dumps(data))
    return str(spec)


def test_least_recently_used_is_evicted_first(tmp_path: Path) -> None:
    a, b, c = (spec_copy(tmp_path, n) for n in ("model-a", "model-b", "model-c"))
    cache = ModelCache(max_models=2, budget_mb=1024)
    first = cache.get(a)
    cache.get(b)
    assert cache.get(a) is first  # a hit, and a is now the most recently used
    cache.get(c)  # over the count: b (least recently used) goes, not a
    stats = cache.stats()
    assert stats.cached == (a, c) and stats.evictions == 1
    assert (stats.hits, stats.loads) == (1, 3)
    assert cache.get(a) is first and b not in cache


def test_memory_budget_is_respected_and_one_big_model_still_runs() -> None:
    probe = ModelCache()
    ct, dx = (model_bytes(probe.get(m).module) for m in ("demo-ct3d", "demo-dx2d"))
    assert ct > dx > 0
    # room for the CT model alone, not for both: loading the DX model evicts the CT one
    cache = ModelCache(max_models=8, budget_mb=(ct + dx - 1) / MB)
    cache.get("demo-ct3d")
    cache.get("demo-dx2d")
    stats = cache.stats()
    assert stats.cached == ("demo-dx2d",) and stats.bytes == dx
    assert stats.bytes <= cache.budget_bytes
    # a budget below the size of any model: the model just used is kept, alone
    tiny = ModelCache(budget_mb=dx / MB / 2)
    tiny.get("demo-ct3d")
    tiny.get("demo-dx2d")
    assert tiny.stats().cached == ("demo-dx2d",)


@pytest.mark.parametrize(("corrupt", "error"), [
    (True, ModelError),              # bytes that are no checkpoint (sha256 matches them)
    (False, WeightsMismatchError),   # bytes that do not match the spec's sha256
])
def test_a_model_that_fails_to_load_raises_for_its_caller_only(
        tmp_path: Path, corrupt: bool, error: type[Exception]) -> None:
    junk = b"not a torch checkpoint" * 100
    bad = spec_copy(tmp_path, "broken", weights=junk,
                    sha256=None if corrupt else "0" * 64)
    cache = ModelCache()
    good = cache.get("demo-dx2d")
    with pytest.raises(error):
        cache.get(bad)
    assert bad not in cache and cache.get("demo-dx2d") is good
    with pytest.raises(error):  # not cached as a failure either: tried again, fails again
        cache.get(bad)
    assert cache.stats().cached == ("demo-dx2d",) and cache.stats().loads == 1


def test_threads_asking_for_one_model_load_it_once() -> None:
    cache = ModelCache()
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("demo-dx2d")))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == 6 and len({id(m) for m in got}) == 1
    assert cache.stats().loads == 1 and cache.stats().hits == 5


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ModelCache(max_models=0)
    with pytest.raises(ValueError, match="budget"):
        ModelCache(budget_mb=0)
