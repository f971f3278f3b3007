"""Class activation maps for MONAI classifiers, 2D and 3D.

>>> from medcam import cam
>>> method = cam.create("gradcam", model)            # doctest: +SKIP
>>> result = method.compute(volume, target=1)        # doctest: +SKIP
>>> result.maps.shape == volume.shape[:1] + volume.shape[2:]  # doctest: +SKIP

Every method returns maps normalised per sample over the whole volume (never per slice).
See :func:`available` and :func:`describe` for the method table.

Options (keyword arguments of :func:`create`):

* every method: ``upsample`` (``"linear"`` | ``"gaussian"``), ``sigma`` (Gaussian
  upsampling, voxels, one value or one per axis; default the stride per axis), ``relu``,
  ``batch_size`` (perturbation batches), ``closed_form`` (GAP+linear fast paths);
* ``recipro``: ``variant`` (``"gaussian"`` official spreading kernel, or ``"plain"``);
* ``scorecam``: ``baseline`` (a number, ``"blur"`` or a tensor; the blend is
  ``x_b + H (x - x_b)``), ``blur_sigma``, ``channels`` (score only the top channels);
* ``clustercam``: ``clusters``, ``seed``, ``baseline``, ``blur_sigma``;
* ``fdcam``: ``quantile``;
* ``fgcam``: ``fg_layer`` (dotted name or ``"input"``), ``scale``, ``denoise``,
  ``input_bounds``.

Gradient methods (and FD-CAM, FG-CAM) refuse to run inside ``torch.inference_mode()``;
they work inside ``torch.no_grad()``.
"""

from __future__ import annotations

from medcam.cam.base import CamMethod, GradientCam
from medcam.cam.layers import LayerSpec
from medcam.cam.normalize import minmax
from medcam.cam.registry import MethodInfo, available, create, describe
from medcam.cam.result import CamResult
from medcam.cam.targets import ScoreFn, Target
from medcam.cam.upsample import gaussian_upsample, linear_upsample, upsample

__all__ = [
    "available", "create", "describe", "MethodInfo",
    "CamMethod", "CamResult", "GradientCam",
    "LayerSpec", "ScoreFn", "Target",
    "gaussian_upsample", "linear_upsample", "minmax", "upsample",
]
