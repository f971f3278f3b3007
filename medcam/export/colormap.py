"""The fixed colour scale of medcam heatmaps, VOI windowing and alpha blending.

The colour scale is Google's *Turbo* (Anton Mikhailov, 2019; polynomial fit by
Ruofei Du, Apache-2.0), a rainbow scale with smooth lightness steps that stays
readable over a grey image. It is built once in NumPy as a 256-entry table.

Nothing here re-normalises a map: :func:`overlay` takes values already scaled to
[0, 1] by the caller (per volume, or a calibrated scale clipped at 1), so a slice
whose activation is half the reference renders at half the colour scale
(RELIABILITY_TESTS B-14).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "COLORMAP_NAME",
    "LUT",
    "LUT_SIZE",
    "colorize",
    "lut_index",
    "overlay",
    "window_to_uint8",
]

COLORMAP_NAME = "turbo"
LUT_SIZE = 256

_RED = (0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943)
_GREEN = (0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604)
_BLUE = (0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973)


def _build_lut() -> NDArray[np.uint8]:
    x = np.linspace(0.0, 1.0, LUT_SIZE)
    powers = np.stack([x**p for p in range(6)], axis=1)
    rgb = powers @ np.array([_RED, _GREEN, _BLUE]).T
    lut: NDArray[np.uint8] = np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    lut.flags.writeable = False
    return lut


#: The colour scale: ``LUT[i]`` is the RGB colour of the value ``i / 255``.
LUT: NDArray[np.uint8] = _build_lut()


def _check_unit(cam: NDArray[np.floating]) -> None:
    if not np.isfinite(cam).all():
        raise ValueError("heatmap values must be finite")
    if cam.size and (cam.min() < 0.0 or cam.max() > 1.0):
        raise ValueError("heatmap values must lie in [0, 1] (scale units clipped at 1)")


def lut_index(values: ArrayLike) -> NDArray[np.intp]:
    """Map values in [0, 1] to colour-scale indices 0..255 (nearest entry).

    Args:
        values: heatmap values in [0, 1].

    Returns:
        Integer indices into :data:`LUT`, same shape as ``values``.

    Raises:
        ValueError: if a value is not finite or outside [0, 1].

    """
    v = np.asarray(values, dtype=np.float64)
    _check_unit(v)
    return np.rint(v * (LUT_SIZE - 1)).astype(np.intp)


def colorize(values: ArrayLike) -> NDArray[np.uint8]:
    """Colour values in [0, 1] with the fixed scale (no blending).

    Args:
        values: heatmap values in [0, 1], any shape.

    Returns:
        uint8 RGB, shaped ``values.shape + (3,)``.

    """
    return LUT[lut_index(values)]


def window_to_uint8(
    values: ArrayLike, center: float, width: float, monochrome1: bool = False
) -> NDArray[np.uint8]:
    """Apply the DICOM linear VOI window and return display-ready grey levels.

    Implements PS3.3 C.11.2.1.2.1 (``LINEAR``) with output range 0..255. For
    ``MONOCHROME1`` the result is inverted, so 255 is always white on screen.

    Args:
        values: stored values after the modality LUT (e.g. HU).
        center: Window Center.
        width: Window Width, at least 1.
        monochrome1: whether the source's minimum value is displayed white.

    Returns:
        uint8 grey levels, same shape as ``values``.

    Raises:
        ValueError: if ``width`` < 1 or ``center``/``width`` are not finite.

    """
    if not (np.isfinite(center) and np.isfinite(width)) or width < 1:
        raise ValueError("window width must be >= 1 and centre/width finite (PS3.3 C.11.2.1.2)")
    x = np.asarray(values, dtype=np.float64)
    low = center - 0.5 - (width - 1.0) / 2.0
    high = center - 0.5 + (width - 1.0) / 2.0
    if width > 1:
        ramp = ((x - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
    else:
        ramp = np.zeros_like(x)
    y = np.where(x <= low, 0.0, np.where(x > high, 255.0, ramp))
    out: NDArray[np.uint8] = np.rint(np.clip(y, 0.0, 255.0)).astype(np.uint8)
    return 255 - out if monochrome1 else out


def overlay(
    gray_uint8: NDArray[np.uint8],
    cam: NDArray[np.floating],
    alpha_max: float = 0.5,
    threshold: float = 0.1,
) -> NDArray[np.uint8]:
    """Blend the coloured heatmap over a windowed grey image.

    The opacity grows with the value, ``alpha = alpha_max * cam`` where
    ``cam >= threshold`` and 0 below, so weak activation barely tints the image.
    The map is not re-normalised.

    Args:
        gray_uint8: display-ready grey image, shaped (rows, columns).
        cam: heatmap in [0, 1], same shape.
        alpha_max: opacity at value 1, in (0, 1].
        threshold: values below it are not drawn, in [0, 1).

    Returns:
        uint8 RGB image shaped (rows, columns, 3).

    Raises:
        ValueError: on mismatched shapes, a non-uint8 image or out-of-range values.

    """
    gray = np.asarray(gray_uint8)
    heat = np.asarray(cam, dtype=np.float64)
    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError("the grey image must be a 2-D uint8 array")
    if heat.shape != gray.shape:
        raise ValueError(f"heatmap shape {heat.shape} differs from image shape {gray.shape}")
    if not 0.0 < alpha_max <= 1.0 or not 0.0 <= threshold < 1.0:
        raise ValueError("alpha_max must lie in (0, 1] and threshold in [0, 1)")
    colour = colorize(heat).astype(np.float64)
    alpha = np.where(heat >= threshold, alpha_max * heat, 0.0)[..., None]
    base = gray.astype(np.float64)[..., None]
    return np.rint(base * (1.0 - alpha) + colour * alpha).astype(np.uint8)
