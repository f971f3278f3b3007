"""medcam's documented metric defaults, shared by the metrics and :class:`AuditConfig`.

Kept free of heavy imports so that ``medcam --help`` stays fast.
"""

from __future__ import annotations

__all__ = ["BLUR_SIGMA_MM", "N_STEPS", "ROAD_FRACTIONS", "ROAD_NOISE", "THRESHOLD",
           "TOLERANCE_MM"]

#: Pointing-game tolerance (mm).
TOLERANCE_MM = 5.0
#: IoU/Dice map threshold.
THRESHOLD = 0.5
#: Deletion/insertion steps (each 2 % of the voxels).
N_STEPS = 50
#: Gaussian sigma of the blurred baseline (mm).
BLUR_SIGMA_MM = 20.0
#: ROAD removal fractions.
ROAD_FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)
#: ROAD imputation noise (network-input units, inputs scaled to [0, 1]).
ROAD_NOISE = 0.01
