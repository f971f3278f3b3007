"""Model-parameter randomisation (Adebayo et al., NeurIPS 2018; B-13) for the gradient methods.

Protocol: five tiny 3-block CNNs (seeds 0-4) are each trained for 40 steps on the
planted-cube task (held-out accuracy asserted on both classes). Their parameter blocks
are re-initialised with their own initialisers, cascading from the logits downward
(:mod:`medcam.audit.randomization`), for two steps: the linear head, then the last conv
block, whose ReLU output (``"7"``) is the target layer. The maps compared are medcam's
output ``L`` (ReLU, upsampled, min-max; CAM_METHODS.md §7, so ``|L| = L``), by
Spearman rank correlation, averaged over 8 inputs x 8 seeds x 5 models; it must be
< 0.5. ``bench/cam_sanity.py`` prints the per-step curve and the spread over models.

Measured (torch 2.13 CPU): Grad-CAM / XGrad-CAM / HiResCAM 0.30-0.31 (2D), 0.29 (3D),
FG-CAM 0.38 / 0.39; Grad-CAM++ and LayerCAM 0.84 / 0.72 (no trained model below
0.60). With a GAP+linear head LayerCAM is ``sum_k ReLU(W_ck) A_k / M`` and Grad-CAM++
a positively weighted sum of the same channels (``W_ck / (2 + Ā_k W_ck)`` where
``W_ck > 0``): a random head only re-weights non-negative channels, never flips them,
and every channel of the re-initialised block is a ReLU of the trained features, which
are far larger on the cube than on the background. The maps keep the cube on top: 0.96
(2D) / 0.99 (3D) after re-drawing the head alone. Grad-CAM's weights take the head's sign
(a sign-symmetric init negates its map as often as not). The insensitivity belongs to
the formulas (checked against hand-written references in ``test_formulas.py``), not to
the setup: it stays with a class-irrelevant dark cube in every volume (0.81 / 0.82,
``bench/cam_sanity.py --distractor``) and on signed pre-ReLU feature-resolution maps
(0.81 / 0.69). Both are therefore strict xfails.
"""

from __future__ import annotations

import statistics

import pytest
import torch

from medcam import cam
from medcam.synthetic.planted import (
    planted_batch,
    planted_task,
    randomisation_spearman,
    tiny_cnn,
    train_planted,
)

GRADIENT = [m for m in cam.available() if cam.describe(m).cost_class == "gradient"]
INSENSITIVE = {"gradcam++", "layercam"}
SIZE = {2: 32, 3: 16}
MODELS = range(5)
REINIT = 8


@pytest.fixture(scope="module", params=[2, 3], ids=["2d", "3d"])
def trained(request: pytest.FixtureRequest) -> tuple:
    dims = request.param
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        models = [train_planted(tiny_cnn(dims, seed=s), dims, size=SIZE[dims]) for s in MODELS]
    finally:
        torch.set_num_threads(threads)
    held_out, labels = planted_task(dims, 64, SIZE[dims], seed=5000)
    x, _ = planted_batch(dims, 8, size=SIZE[dims], seed=999)
    with torch.no_grad():
        for model in models:
            assert (model(held_out).argmax(dim=1) == labels).all(), "training failed"
            assert (model(x).argmax(dim=1) == 1).all(), "training failed"
    return models, x


@pytest.mark.slow
@pytest.mark.parametrize("method", [
    pytest.param(m, marks=pytest.mark.xfail(strict=True, reason="positive weights on "
                                            "non-negative activations; see module docstring"))
    if m in INSENSITIVE else m for m in GRADIENT])
def test_randomising_last_block_changes_maps(method: str, trained: tuple) -> None:
    models, x = trained
    # the metric is not trivially low: an untouched copy gives the same ranking
    assert statistics.fmean(randomisation_spearman(method, models[0], x, 0, [0])) > 0.99
    rhos = [rho for i, model in enumerate(models) for rho in randomisation_spearman(
        method, model, x, 2, range(1000 * i, 1000 * i + 10 * REINIT, 10))]
    assert statistics.fmean(rhos) < 0.5
