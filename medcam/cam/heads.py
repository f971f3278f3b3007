"""Detection of GAP + linear heads, for the closed forms of CAM_METHODS.md §5.

Most MONAI classifiers end in ``(ReLU ->) global average pool -> (flatten) -> Linear``
right after the last feature layer: ``DenseNet``'s ``class_layers``, ``ResNet``'s
``avgpool``/``fc``, ``SENet``'s ``adaptive_avg_pool``/``last_linear``. For such a tail
``h(F) = W · mean_u relu?(F)(u) + b``, so every masked-feature batch of Recipro-CAM,
Ablation-CAM and FD-CAM has a one-matrix-product closed form. A head is only used after a
numeric check that it reproduces the logits of the very forward pass being explained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from medcam.cam.hooks import Call

__all__ = ["LinearHead", "detect_head"]

_AVG_POOLS = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
_PASS = (nn.Flatten, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.Identity)


@dataclass(frozen=True)
class LinearHead:
    """A tail ``logits = W · mean_u relu?(F)(u) + b`` after the target layer.

    Attributes:
        weight: ``(classes, K)``.
        bias: ``(classes,)`` or ``None``.
        relu: whether a ReLU precedes the pooling (features are then ``relu(F)``).

    """

    weight: Tensor
    bias: Tensor | None
    relu: bool

    def features(self, acts: Tensor) -> Tensor:
        """Return the features the pooling sees: ``relu(acts)`` or ``acts``."""
        return torch.relu(acts) if self.relu else acts

    def pooled(self, acts: Tensor) -> Tensor:
        """``(N, K)`` spatial means of :meth:`features`."""
        return self.features(acts).flatten(2).mean(dim=2)

    def logits(self, pooled: Tensor) -> Tensor:
        """``(B, classes)`` logits for a batch of pooled feature vectors."""
        out = pooled @ self.weight.T
        return out if self.bias is None else out + self.bias


def _pattern(after: Sequence[Call]) -> tuple[bool, nn.Linear] | None:
    modules = [c.module for c in after if c.leaf]
    i, relu = 0, False
    while i < len(modules) and isinstance(modules[i], nn.ReLU | nn.Identity):
        relu = relu or isinstance(modules[i], nn.ReLU)
        i += 1
    pool = modules[i] if i < len(modules) else None
    if not (isinstance(pool, _AVG_POOLS) and _is_one(pool.output_size)):
        return None
    i += 1
    while i < len(modules) and isinstance(modules[i], _PASS):
        i += 1
    last = modules[i] if i == len(modules) - 1 else None
    return (relu, last) if isinstance(last, nn.Linear) else None


def _is_one(size: object) -> bool:
    sizes = size if isinstance(size, Sequence) else (size,)
    return all(s == 1 for s in sizes)


def detect_head(calls: Sequence[Call], layer: str, acts: Tensor,
                output: Tensor) -> LinearHead | None:
    """Return the :class:`LinearHead` after ``layer``, or ``None``.

    The traced tail must have the GAP+linear pattern and reproduce ``output`` from ``acts``.
    """
    ends = [i for i, c in enumerate(calls) if c.name == layer]
    if len(ends) != 1 or output.ndim != 2:
        return None
    found = _pattern(calls[ends[0] + 1:])
    if found is None:
        return None
    relu, linear = found
    head = LinearHead(linear.weight.detach().float(),
                      None if linear.bias is None else linear.bias.detach().float(), relu)
    with torch.no_grad():
        pred = head.logits(head.pooled(acts.detach().float()))
    ref = output.detach().float()
    scale = float(ref.abs().max()) + 1.0
    return head if pred.shape == ref.shape and torch.allclose(pred, ref, rtol=1e-4,
                                                               atol=1e-4 * scale) else None
