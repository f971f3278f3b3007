"""Audit settings: every fixed choice of the metrics, recorded in metrics.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from medcam.audit import defaults
from medcam.audit.errors import AuditError

__all__ = ["AuditConfig"]

_BASELINES = ("auto", "air", "blur", "mean", "zero")


@dataclass(frozen=True)
class AuditConfig:
    """Parameters of an audit run (defaults are medcam's documented choices).

    Attributes:
        tolerance_mm: pointing-game tolerance; the mask is dilated by this many mm.
        threshold: map threshold of IoU and Dice (``L >= threshold``).
        n_steps: deletion/insertion steps (each changes ``1 / n_steps`` of the voxels).
        deletion_baseline: ``auto`` (CT: air, else blur) or a fixed kind.
        insertion_baseline: ``auto`` (blur) or a fixed kind.
        blur_sigma_mm: Gaussian sigma of the ``blur`` baseline.
        road_fractions: ROAD removal fractions.
        road_neighbourhood: ROAD stencil (3D: 6 or 26; 2D: 4 or 8; ``None``: 6 / 8).
        road_noise: ROAD imputation noise (network-input units).
        sanity: run the cascading randomisation check.
        sanity_cases: at most this many cases get the sanity check (``None``: all).
        bootstrap_resamples: resamples of the percentile bootstrap.
        confidence: level of the bootstrap interval.
        batch_size: perturbed inputs per model call.
        seed: seed of tie-breaking, imputation noise, randomisation and bootstrap.

    """

    tolerance_mm: float = defaults.TOLERANCE_MM
    threshold: float = defaults.THRESHOLD
    n_steps: int = defaults.N_STEPS
    deletion_baseline: str = "auto"
    insertion_baseline: str = "auto"
    blur_sigma_mm: float = defaults.BLUR_SIGMA_MM
    road_fractions: tuple[float, ...] = defaults.ROAD_FRACTIONS
    road_neighbourhood: int | None = None
    road_noise: float = defaults.ROAD_NOISE
    sanity: bool = True
    sanity_cases: int | None = None
    bootstrap_resamples: int = 2000
    confidence: float = 0.95
    batch_size: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "road_fractions", tuple(float(q) for q in self.road_fractions))
        if self.tolerance_mm < 0 or self.blur_sigma_mm <= 0 or self.road_noise < 0:
            raise AuditError("tolerance_mm >= 0, blur_sigma_mm > 0 and road_noise >= 0 needed")
        if self.n_steps < 1 or self.batch_size < 1 or self.bootstrap_resamples < 1:
            raise AuditError("n_steps, batch_size and bootstrap_resamples must be >= 1")
        if not 0 < self.confidence < 1:
            raise AuditError("confidence must lie in (0, 1)")
        if not self.road_fractions or not all(0 < q < 1 for q in self.road_fractions):
            raise AuditError("road_fractions must be in (0, 1)")
        for name in ("deletion_baseline", "insertion_baseline"):
            if getattr(self, name) not in _BASELINES:
                raise AuditError(f"{name} must be one of {', '.join(_BASELINES)}")
        if self.sanity_cases is not None and self.sanity_cases < 0:
            raise AuditError("sanity_cases must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        """Return every field as a JSON-ready dict."""
        data = asdict(self)
        data["road_fractions"] = list(self.road_fractions)
        return data
