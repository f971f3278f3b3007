"""Burned-in annotation of heatmap frames: warning banner and colour legend.

Every exported frame carries, burned into its pixels but outside the image (the
canvas grows by a band above and one below, so anatomy is never covered),

* a banner band on top: :data:`~medcam.export.types.BANNER` and a line with
  model, method, class and probability (never patient data), and
* a legend band below: the colour scale from 0 to 1 with what 1 means (per
  volume, or the model's calibrated reference level; values above 1 clip).

Text is drawn with Pillow's built-in font (``ImageFont.load_default(size=...)``,
no font files, no network), sized from the frame's short side and shrunk where a
line would not fit. Frames whose short side is below :data:`MIN_SHORT_SIDE` are
first enlarged by an integer factor (:func:`upscale_factor`), so the text stays
legible; the caller must scale Pixel Spacing by the same factor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from medcam.export.colormap import LUT, LUT_SIZE, overlay, window_to_uint8
from medcam.export.types import SCALE_NOTE

__all__ = [
    "DEFAULT_OPACITY",
    "DEFAULT_THRESHOLD",
    "MIN_SHORT_SIDE",
    "Layout",
    "burn_in",
    "layout",
    "render_frame",
    "upscale",
    "upscale_factor",
    "volume_window",
]

#: Smallest short side (pixels) of an annotated frame; smaller frames are enlarged.
MIN_SHORT_SIDE = 256
_MIN_FONT = 11
_MIN_FIT_FONT = 9  # smallest size a line is shrunk to before it is cut with "..."
#: Overlay opacity at value 1 and the value below which nothing is coloured.
DEFAULT_OPACITY, DEFAULT_THRESHOLD = 0.5, 0.1
_TEXT_RGB = (255, 255, 255)
_WINDOW_SAMPLES = 2_000_000

FreeFont = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class Layout:
    """Where the annotations of a frame go: bands added above and below the image.

    All rows are canvas rows: the canvas is ``banner_bottom`` rows of banner, the
    image rows (``banner_bottom`` to ``legend_top``), then the legend band.

    Args:
        font_size: nominal font size.
        pad: margin around text and bar.
        line_height: height of one text line.
        banner_bottom: first image row (the banner band's height).
        legend_top: first row of the legend band (banner + image rows).
        bar: (top, bottom, left, right) of the colour bar, end-exclusive.
        rows: canvas rows (banner + image + legend).

    """

    font_size: int
    pad: int
    line_height: int
    banner_bottom: int
    legend_top: int
    bar: tuple[int, int, int, int]
    rows: int

    @property
    def legend_height(self) -> int:
        """Rows of the legend band."""
        return self.rows - self.legend_top


def upscale_factor(rows: int, columns: int, min_short_side: int = MIN_SHORT_SIDE) -> int:
    """Integer enlargement that brings the short side to at least ``min_short_side``.

    Args:
        rows: frame height.
        columns: frame width.
        min_short_side: required short side in pixels.

    Returns:
        1 when the frame is large enough, else ``ceil(min_short_side / short)``.

    """
    short = min(rows, columns)
    if short < 1:
        raise ValueError("a frame needs at least one row and one column")
    return max(1, math.ceil(min_short_side / short))


def upscale(image: NDArray[np.generic], factor: int) -> NDArray[np.generic]:
    """Enlarge a 2-D uint8 or float32 image by an integer factor (bilinear).

    Pillow's resampling is pixel-centre aligned: output pixel ``i`` samples the
    input at ``(i + 0.5) / factor - 0.5``. A constant image stays constant.

    Args:
        image: 2-D uint8 (grey levels) or floating (heatmap) array.
        factor: integer enlargement, >= 1.

    Returns:
        The enlarged image, same dtype family (uint8 or float32).

    """
    if factor == 1:
        return image
    rows, columns = image.shape
    if image.dtype == np.uint8:
        pil = Image.fromarray(image, mode="L")
    else:
        pil = Image.fromarray(np.asarray(image, dtype=np.float32), mode="F")
    out = pil.resize((columns * factor, rows * factor), Image.Resampling.BILINEAR)
    return np.asarray(out)


def layout(rows: int, columns: int, n_lines: int = 2, font_size: int | None = None,
           legend: bool = True) -> Layout:
    """Compute the bands that frame an image of ``rows`` x ``columns`` pixels.

    Args:
        rows: image height (after any enlargement).
        columns: image width.
        n_lines: number of banner lines (0: no banner band).
        font_size: nominal font size; by default 1/20 of the short side, at least 11.
        legend: whether a legend band is added below the image.

    Returns:
        The :class:`Layout`. Band heights depend only on the font size and the
        image is never covered: banner above, legend below.

    """
    size = font_size or max(_MIN_FONT, min(rows, columns) // 20)
    pad = max(2, size // 4)
    line_height = round(size * 1.3)
    banner = n_lines * line_height + 2 * pad if n_lines else 0
    bar_height = max(6, size * 2 // 3)
    legend_top = banner + rows
    legend_rows = line_height + bar_height + 3 * pad if legend else 0
    label_width = size
    bar_top = legend_top + pad
    bar = (bar_top, bar_top + bar_height, pad + label_width + pad,
           max(pad + 2 * label_width + 2 * pad + 1, columns - 2 * pad - label_width))
    return Layout(size, pad, line_height, banner, legend_top, bar, legend_top + legend_rows)


def _font(size: int) -> FreeFont:
    return ImageFont.load_default(size=size)


def _fit(draw: ImageDraw.ImageDraw, text: str, size: int, width: int) -> tuple[FreeFont, str]:
    """Shrink the font (down to :data:`_MIN_FIT_FONT`), then cut the text with "...", to fit."""
    while size > _MIN_FIT_FONT and draw.textlength(text, font=_font(size)) > width:
        size -= 1
    font = _font(size)
    if draw.textlength(text, font=font) <= width:
        return font, text
    while len(text) > 1 and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return font, text.rstrip() + "..."


def burn_in(rgb: NDArray[np.uint8], lines: Sequence[str], legend: bool = True,
            font_size: int | None = None, note: str = SCALE_NOTE) -> NDArray[np.uint8]:
    """Frame an RGB image with the banner band above and the legend band below.

    The bands are new black rows: the image pixels are copied unchanged into rows
    ``banner_bottom`` to ``legend_top`` of the result (see :func:`layout`).

    Args:
        rgb: uint8 image shaped (rows, columns, 3); not modified.
        lines: banner lines, top to bottom (no patient data); empty for no banner.
        legend: whether to add the colour legend band.
        font_size: nominal font size (see :func:`layout`).
        note: what the colour scale means, written under the bar.

    Returns:
        A new uint8 RGB canvas of ``layout(...).rows`` rows.

    """
    image = np.asarray(rgb, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("burn_in expects an RGB frame shaped (rows, columns, 3)")
    rows, columns = image.shape[:2]
    lay = layout(rows, columns, len(lines), font_size, legend)
    frame = np.zeros((lay.rows, columns, 3), dtype=np.uint8)
    frame[lay.banner_bottom:lay.legend_top] = image
    if legend:
        top, bottom, left, right = lay.bar
        t = np.linspace(0.0, 1.0, right - left)
        frame[top:bottom, left:right] = LUT[np.rint(t * (LUT_SIZE - 1)).astype(np.intp)]
    canvas = Image.fromarray(frame, mode="RGB")
    draw = ImageDraw.Draw(canvas)
    text_width = columns - 2 * lay.pad
    for i, line in enumerate(lines):
        font, text = _fit(draw, line, lay.font_size, text_width)
        draw.text((lay.pad, lay.pad + i * lay.line_height), text, fill=_TEXT_RGB, font=font)
    if legend:
        top, bottom, left, right = lay.bar
        small = _font(max(6, lay.font_size - 1))
        draw.text((lay.pad, top), "0", fill=_TEXT_RGB, font=small)
        draw.text((right + lay.pad, top), "1", fill=_TEXT_RGB, font=small)
        font, text = _fit(draw, note, lay.font_size - 1, text_width)
        draw.text((lay.pad, bottom + lay.pad), text, fill=_TEXT_RGB, font=font)
    return np.asarray(canvas, dtype=np.uint8)


def volume_window(values: NDArray[np.floating], window: tuple[float, float] | None
                  ) -> tuple[float, float]:
    """Choose the (centre, width) used to display a whole volume.

    Args:
        values: the volume after the modality LUT.
        window: the source's default window, used when given.

    Returns:
        ``window`` if given (width at least 1), else the 1st-99th percentile range
        of the whole volume (every k-th voxel for large volumes, at most about
        :data:`_WINDOW_SAMPLES`), so every slice is windowed alike.

    """
    if window is not None:
        return float(window[0]), max(1.0, float(window[1]))
    flat = np.asarray(values).ravel()
    flat = flat[:: max(1, flat.size // _WINDOW_SAMPLES)]
    low, high = np.percentile(flat, [1.0, 99.0])
    return float(low + high) / 2.0, max(1.0, float(high - low))


def render_frame(
    values: NDArray[np.floating],
    cam: NDArray[np.floating],
    window: tuple[float, float],
    monochrome1: bool,
    factor: int,
    lines: Sequence[str],
    legend: bool = True,
    *,
    opacity: float = DEFAULT_OPACITY,
    threshold: float = DEFAULT_THRESHOLD,
    note: str = SCALE_NOTE,
) -> NDArray[np.uint8]:
    """Window, enlarge and colour one slice, then frame it with banner and legend.

    Args:
        values: the slice after the modality LUT, (rows, columns).
        cam: its heatmap in scale units (>= 0; values above 1 show as 1), same shape.
        window: (centre, width) for the grey image.
        monochrome1: whether the source is MONOCHROME1 (inverted for display).
        factor: integer enlargement from :func:`upscale_factor`.
        lines: banner lines; empty for none.
        legend: whether to add the colour legend.
        opacity: overlay opacity at value 1 (``alpha = opacity * value``), in (0, 1].
        threshold: values below it are not coloured, in [0, 1).
        note: what the colour scale means (the legend's text).

    Returns:
        uint8 RGB canvas: ``(rows * factor, columns * factor)`` image pixels between
        the banner and legend bands of :func:`layout`.

    """
    gray = window_to_uint8(values, window[0], window[1], monochrome1)
    heat = np.clip(upscale(np.asarray(cam, dtype=np.float32), factor), 0.0, 1.0)
    blended = overlay(np.asarray(upscale(gray, factor), dtype=np.uint8), heat,
                      alpha_max=opacity, threshold=threshold)
    return burn_in(blended, lines, legend, note=note)
