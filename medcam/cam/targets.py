"""What is being explained: class indices or a score callable, resolved per sample."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from medcam.errors import CamError

__all__ = ["ScoreFn", "Target", "Targets", "resolve_targets"]

#: A callable taking the model output (batch ``B``) and returning one score per row, ``(B,)``.
ScoreFn = Callable[[Tensor], Tensor]
#: ``None`` (predicted class), a class index, one index per sample, or a :data:`ScoreFn`.
Target = int | Sequence[int] | ScoreFn | None


@dataclass(frozen=True)
class Targets:
    """Resolved targets for a batch of ``N`` samples.

    Attributes:
        classes: the class index per sample, or ``None`` per sample when ``fn`` is used.
        fn: the caller's score callable, if any.

    """

    classes: tuple[int | None, ...]
    fn: ScoreFn | None = None

    def _check(self, output: Tensor, scores: Tensor) -> Tensor:
        if scores.shape != (output.shape[0],):
            raise CamError(f"the target callable must return shape ({output.shape[0]},), "
                           f"got {tuple(scores.shape)}")
        return scores

    def score(self, output: Tensor, sample: int | None = None) -> Tensor:
        """Per-row score: the target logit, or ``fn(output)``.

        Args:
            output: model output for the whole batch (``sample=None``) or for ``B`` perturbed
                copies of one sample.
            sample: which sample's class the rows belong to (perturbation batches).

        """
        if self.fn is not None:
            return self._check(output, self.fn(output))
        return self._gather(output, sample)

    def probability(self, output: Tensor, sample: int | None = None) -> Tensor:
        """Per-row softmax probability of the target class, or ``fn(output)`` for callables."""
        if self.fn is not None:
            return self._check(output, self.fn(output))
        return self._gather(torch.softmax(output.float(), dim=1), sample)

    def _gather(self, output: Tensor, sample: int | None) -> Tensor:
        rows = torch.arange(output.shape[0], device=output.device)
        if sample is None:
            cls = torch.tensor(self.classes, device=output.device)
        else:
            cls = torch.full_like(rows, int(self.classes[sample]))  # type: ignore[arg-type]
        return output[rows, cls]


def resolve_targets(target: Target, output: object, n: int) -> Targets:
    """Turn the caller's ``target`` into :class:`Targets` for ``n`` samples.

    Raises:
        CamError: the target does not fit the model output or the batch.

    """
    if callable(target) and not isinstance(target, Tensor):
        return Targets((None,) * n, target)
    if isinstance(target, Tensor):
        target = target.tolist()
    if not (isinstance(output, Tensor) and output.ndim == 2 and output.shape[0] == n):
        shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
        raise CamError(f"class targets need a model output of shape (N, classes), got {shape}; "
                       "pass a callable target that returns one score per sample")
    n_classes = output.shape[1]
    if target is None:
        classes = tuple(int(c) for c in output.detach().argmax(dim=1).tolist())
    elif isinstance(target, int | torch.SymInt) and not isinstance(target, bool):
        classes = (int(target),) * n
    elif isinstance(target, Sequence) and not isinstance(target, str):
        classes = tuple(int(c) for c in target)
        if len(classes) != n:
            raise CamError(f"got {len(classes)} targets for a batch of {n} samples")
    else:
        raise CamError(f"unsupported target type {type(target).__name__}: use None, an int, "
                       "a list of ints or a callable")
    bad = [c for c in classes if not 0 <= c < n_classes]
    if bad:
        raise CamError(f"target class {bad[0]} is outside the model's {n_classes} classes")
    return Targets(classes)
