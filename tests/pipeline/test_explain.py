"""medcam.explain on series: shapes, normalisation, targets and model hygiene."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import medcam
from medcam.errors import ModelError
from medcam.explanation import _cached_model
from medcam.geometry import Geometry
from medcam.series.types import Series

ROOT_SAMPLES = "sample_dicoms"


def small_series(shape=(16, 40, 36), spacing=(5.0, 4.0, 4.5)) -> Series:
    direction = (0, 0, 1, 0, 1, 0, 1, 0, 0)
    geometry = Geometry(shape, spacing, (-80.0, -80.0, -40.0), direction)
    rng = np.random.default_rng(1)
    array = rng.normal(-500, 300, shape).astype(np.float32)
    n = shape[0]
    return Series(array, geometry, "1.2.3", "1.2.3.4", "1.2.840.10008.5.1.4.1.1.2", "CT",
                  tuple(f"1.2.3.4.{i}" for i in range(n)), (None,) * n, (None,) * n)


@pytest.mark.parametrize("method", ["gradcam", "layercam", "recipro", "cam"])
def test_cam_has_series_shape_and_unit_range(method):
    series = medcam.read_series(f"{ROOT_SAMPLES}/ct/nodule")
    exp = medcam.explain(series, model="demo-ct3d", method=method)
    assert exp.cam.shape == series.array.shape
    assert exp.cam.dtype == np.float32
    assert float(exp.cam.min()) >= 0.0
    assert float(exp.cam.max()) == pytest.approx(1.0)
    assert set(exp.probabilities) == {"no_lesion", "lesion"}
    assert exp.target == max(exp.probabilities, key=exp.probabilities.get)
    assert not exp.cam.flags.writeable


def test_target_can_be_forced_by_name_or_index():
    series = small_series()
    a = medcam.explain(series, model="demo-ct3d", target="lesion")
    b = medcam.explain(series, model="demo-ct3d", target=0)
    assert a.target == "lesion"
    assert b.target == "no_lesion"
    with pytest.raises(ModelError):
        medcam.explain(series, model="demo-ct3d", target="tumour")


def test_2d_model_rejects_volumes_and_3d_model_rejects_images():
    with pytest.raises(ModelError):
        medcam.explain(small_series(), model="demo-dx2d")
    dx = medcam.read_series(f"{ROOT_SAMPLES}/dx/nodule")
    with pytest.raises(ModelError):
        medcam.explain(dx, model="demo-ct3d")
    exp = medcam.explain(dx, model="demo-dx2d")
    assert exp.cam.shape == dx.array.shape == (1, 256, 256)


def test_hooks_grads_and_flags_clean_after_100_runs():
    """B-15: no hooks left, .grad and training flags as before, after 100 explains."""
    loaded = _cached_model("demo-ct3d", "cpu")
    module = loaded.module
    series = small_series(shape=(8, 24, 24), spacing=(10.0, 10.0, 10.0))
    before = {n: (p.requires_grad, None if p.grad is None else p.grad.clone())
              for n, p in module.named_parameters()}
    flags = {n: m.training for n, m in module.named_modules()}
    for i in range(100):
        medcam.explain(series, model=loaded, method=("gradcam", "layercam", "recipro")[i % 3])
    for name, mod in module.named_modules():
        assert not mod._forward_hooks and not mod._forward_pre_hooks, name
        assert not mod._backward_hooks and not getattr(mod, "_backward_pre_hooks", {}), name
        assert mod.training == flags[name]
    for name, p in module.named_parameters():
        req, grad = before[name]
        assert p.requires_grad == req
        assert (p.grad is None) == (grad is None)
        if grad is not None:
            assert torch.equal(p.grad, grad)
