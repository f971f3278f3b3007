"""Every method on MONAI DenseNet121 and ResNet18, 2D and 3D: shapes and value ranges."""

from __future__ import annotations

import math

import pytest
import torch

from medcam import cam

#: Score-CAM scores 1024 (DenseNet) / 512 (ResNet) channels with full forward passes and
#: Cluster-CAM's elbow may pick 11 clusters; the matrix limits both to keep CI fast (the
#: full forms run in test_planted).
OPTIONS = {"scorecam": {"channels": 4}, "clustercam": {"clusters": 3}}


@pytest.mark.parametrize("method", cam.available())
def test_every_method_runs(method: str, monai_case: tuple) -> None:
    model, x, arch = monai_case
    engine = cam.create(method, model, **OPTIONS.get(method, {}))
    result = engine.compute(x)
    n, spatial = x.shape[0], tuple(x.shape[2:])
    assert result.maps.shape == (n, *spatial)
    assert result.maps.dtype == torch.float32
    assert torch.isfinite(result.maps).all()
    assert float(result.maps.min()) >= 0.0
    assert float(result.maps.max()) <= 1.0
    assert result.raw.shape == result.maps.shape
    assert torch.isfinite(result.raw).all()
    assert float(result.raw.min()) >= 0.0  # relu=True
    assert result.feature_maps.shape == (n, *result.feature_shape)
    assert len(result.feature_shape) == x.ndim - 2
    assert math.prod(result.feature_shape) > 1
    assert result.logits.shape == (n, 3)
    assert not result.logits.requires_grad
    predicted = tuple(int(c) for c in result.logits.argmax(dim=1))
    assert result.targets == predicted
    assert result.method == method
    expected_layer = "class_layers.relu" if arch == "densenet" else "layer4"
    assert result.target_layers == (expected_layer,)
    # a non-constant raw map must reach both ends of [0, 1]
    for i in range(n):
        if float(result.raw[i].max() - result.raw[i].min()) > 1e-6:
            assert float(result.maps[i].max()) == pytest.approx(1.0)
            assert float(result.maps[i].min()) == pytest.approx(0.0)


def test_fgcam_is_finer_than_gradcam_on_monai(monai_case: tuple) -> None:
    """FG-CAM propagates through MONAI's dense/residual blocks (not the input fallback)."""
    model, x, _ = monai_case
    fine = cam.create("fgcam", model).compute(x)
    coarse = cam.create("gradcam", model).compute(x)
    assert fine.feature_shape != tuple(x.shape[2:])  # the chain path, not the fallback
    assert all(f >= 4 * c for f, c in zip(fine.feature_shape, coarse.feature_shape,
                                          strict=True))
    assert float(fine.raw.max()) > 0
