"""Bootstrap aggregation, configuration checks and the text progress bar."""

from __future__ import annotations

import io

import numpy as np
import pytest

from medcam.audit import AuditConfig, AuditError
from medcam.audit.progress import Progress
from medcam.audit.stats import bootstrap_ci, summarize


def test_bootstrap_interval_brackets_the_mean_and_is_seeded():
    values = np.random.default_rng(0).normal(10.0, 2.0, 40)
    lo, hi = bootstrap_ci(values, resamples=4000, seed=1)
    assert lo < values.mean() < hi
    # Close to the normal-theory interval mean +- 1.96 s / sqrt(n).
    half = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert hi - lo == pytest.approx(2 * half, rel=0.15)
    assert bootstrap_ci(values, seed=1) == bootstrap_ci(values, seed=1)
    assert bootstrap_ci([3.0]) == (3.0, 3.0)


def test_summarize_skips_missing_values():
    assert summarize([1.0, None, 3.0], resamples=100) == {
        "mean": 2.0, "ci": list(bootstrap_ci([1.0, 3.0], resamples=100)), "n": 2}
    assert summarize([None]) == {"mean": None, "ci": None, "n": 0}


def test_config_validation_and_dict():
    assert AuditConfig().to_dict()["road_fractions"] == [0.1, 0.3, 0.5, 0.7, 0.9]
    for bad in ({"n_steps": 0}, {"road_fractions": (1.5,)}, {"deletion_baseline": "noise"},
                {"confidence": 1.0}, {"tolerance_mm": -1.0}):
        with pytest.raises(AuditError):
            AuditConfig(**bad)


def test_text_progress_bar(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)  # force the fallback
    out = io.StringIO()
    with Progress(2, "audit", stream=out) as bar:
        bar.update("case01 gradcam")
        bar.update("case01 layercam")
    text = out.getvalue()
    assert "1/2 case01 gradcam" in text
    assert "[" + "#" * 30 + "] 2/2" in text
    assert text.endswith("\n")
    silent = io.StringIO()
    with Progress(3, enabled=False, stream=silent) as bar:
        bar.update()
    assert silent.getvalue() == ""
