"""A bounded cache of loaded models: least recently used, by count and memory budget.

A process that serves several models (routing, :mod:`medcam.routing`) loads each one
on first use and keeps it for the next series, within two bounds: at most
``max_models`` models and at most ``budget_mb`` MB. A model's size is estimated as
the bytes of its parameters plus its buffers (``numel * element_size`` summed over
``module.parameters()`` and ``module.buffers()``): the tensors that stay resident
while the model is cached; activations during a forward pass are not counted.

When a new model would pass a bound, the least recently used models are evicted
first (the classic LRU policy). The model just loaded is always kept, so a single
model larger than the whole budget still runs (it is the only one kept then).

A model that fails to load raises its typed error (:class:`~medcam.errors.ModelError`,
:class:`~medcam.errors.WeightsMismatchError`) to the caller that asked for it and
is not cached: the next request tries again, and the cached models are untouched.

Thread-safe: one lock guards the cache; a load runs under it, so two threads asking
for the same model load it once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from medcam.model.load import LoadedModel

__all__ = ["DEFAULT_BUDGET_MB", "DEFAULT_MAX_MODELS", "CacheStats", "ModelCache", "model_bytes"]

#: Default memory budget (MB) of a cache: a few 3D classifiers on a small node.
DEFAULT_BUDGET_MB = 2048.0
#: Default most models kept at once.
DEFAULT_MAX_MODELS = 4
_MB = 1 << 20

Loader = Callable[[str, str], "LoadedModel"]


def model_bytes(module: nn.Module) -> int:
    """Estimated resident size: bytes of the parameters plus the buffers of ``module``."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def _load(model: str, device: str) -> LoadedModel:
    from medcam.model.load import load_model

    return load_model(model, device=device)


@dataclass(frozen=True)
class CacheStats:
    """What a cache did (for tests and reports)."""

    hits: int
    loads: int
    evictions: int
    cached: tuple[str, ...]
    bytes: int


class ModelCache:
    """Loaded models, least recently used evicted first (see the module docstring).

    Args:
        max_models: most models kept (at least 1).
        budget_mb: most MB of parameters and buffers kept (> 0).
        device: the device every model is loaded on.
        loader: ``(model, device) -> LoadedModel`` (default :func:`load_model`).

    Raises:
        ValueError: a bound below its minimum.

    """

    def __init__(self, max_models: int = DEFAULT_MAX_MODELS,
                 budget_mb: float = DEFAULT_BUDGET_MB, device: str = "cpu",
                 loader: Loader = _load) -> None:
        if max_models < 1:
            raise ValueError("a model cache keeps at least 1 model")
        if not budget_mb > 0:
            raise ValueError("a model cache needs a memory budget > 0 MB")
        self.max_models, self.budget_bytes = max_models, int(budget_mb * _MB)
        self.device, self._loader = device, loader
        self._lock = threading.Lock()
        self._models: OrderedDict[str, tuple[LoadedModel, int]] = OrderedDict()
        self._hits = self._loads = self._evictions = 0

    def get(self, model: str) -> LoadedModel:
        """The loaded ``model`` (built-in name or spec path), loading it if needed.

        Raises:
            MedcamError: the model cannot be loaded (nothing is cached then).

        """
        with self._lock:
            entry = self._models.get(model)
            if entry is not None:
                self._models.move_to_end(model)
                self._hits += 1
                return entry[0]
            loaded = self._loader(model, self.device)  # raises: nothing changes
            self._loads += 1
            self._models[model] = (loaded, model_bytes(loaded.module))
            self._evict()
            return loaded

    def _evict(self) -> None:
        while len(self._models) > 1 and (len(self._models) > self.max_models
                                         or self._total() > self.budget_bytes):
            self._models.popitem(last=False)
            self._evictions += 1

    def _total(self) -> int:
        return sum(size for _, size in self._models.values())

    def __contains__(self, model: object) -> bool:
        with self._lock:
            return model in self._models

    def stats(self) -> CacheStats:
        """Counts so far, the cached model names (least recent first) and their bytes."""
        with self._lock:
            return CacheStats(self._hits, self._loads, self._evictions,
                              tuple(self._models), self._total())
