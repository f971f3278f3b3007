"""A PNG montage of the hottest slices, for a quick look without a DICOM viewer."""

from __future__ import annotations

import math
from io import BytesIO
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from medcam.durable import write_file_atomic
from medcam.errors import ExportError
from medcam.export.render import burn_in, render_frame, upscale_factor, volume_window
from medcam.export.types import BANNER, SCALE_NOTE, HeatmapInfo
from medcam.series.types import Series

__all__ = ["hottest_slices", "preview_png"]

_TILE_SHORT_SIDE = 192
_COLUMNS = 3


def hottest_slices(cam: NDArray[np.floating], n: int) -> tuple[int, ...]:
    """Pick the ``n`` slices with the highest heatmap maximum, in slice order.

    Args:
        cam: heatmap shaped (slices, rows, columns).
        n: how many slices to pick (at most the slice count).

    Returns:
        Slice indices, ascending; ties go to the lower index.

    """
    peaks = np.asarray(cam).reshape(cam.shape[0], -1).max(axis=1)
    order = np.argsort(-peaks, kind="stable")[: max(1, min(n, cam.shape[0]))]
    return tuple(sorted(int(k) for k in order))


def preview_png(series: Series, cam: NDArray[np.floating], path: Path, n: int = 6,
                info: HeatmapInfo | None = None) -> Path:
    """Write a PNG montage of the ``n`` hottest slices with their overlays.

    Each tile is labelled with its slice number; the montage carries the banner
    (with the model line when ``info`` is given) and the colour legend. The PNG
    holds no patient data and is replaced atomically.

    Args:
        series: the source series.
        cam: heatmap in [0, 1] (scale units clipped at 1), shaped like ``series.array``.
        path: the PNG to write.
        n: number of slices to show, >= 1.
        info: what produced the heatmap, for the banner's second line.

    Returns:
        ``path``.

    Raises:
        ExportError: on an invalid heatmap or ``n``, or if the file cannot be written.

    """
    heat = np.asarray(cam)
    if heat.shape != series.array.shape or n < 1:
        raise ExportError("preview needs a heatmap shaped like the series and n >= 1")
    if not np.isfinite(heat).all() or heat.min() < 0.0 or heat.max() > 1.0:
        raise ExportError("preview heatmap values must lie in [0, 1]")
    rows, columns = series.array.shape[1:]
    factor = upscale_factor(rows, columns, _TILE_SHORT_SIDE)
    window = volume_window(series.array, series.window)
    monochrome1 = series.photometric_interpretation == "MONOCHROME1"
    font = ImageFont.load_default(size=max(11, min(rows, columns) * factor // 16))
    tiles = []
    for k in hottest_slices(heat, n):
        tile = render_frame(series.array[k], heat[k], window, monochrome1, factor, (),
                            legend=False)
        image = Image.fromarray(tile, mode="RGB")
        ImageDraw.Draw(image).text((4, 4), f"slice {k + 1}/{series.array.shape[0]}",
                                   fill=(255, 255, 255), font=font)
        tiles.append(np.asarray(image))
    grid_cols = min(_COLUMNS, len(tiles))
    grid_rows = math.ceil(len(tiles) / grid_cols)
    th, tw = tiles[0].shape[:2]
    lines = (BANNER,) if info is None else (BANNER, info.model_line)
    size = max(11, min(grid_rows * th, grid_cols * tw) // 20)
    montage = np.zeros((grid_rows * th, grid_cols * tw, 3), dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, grid_cols)
        montage[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = tile
    note = SCALE_NOTE if info is None else info.scale_note
    canvas = burn_in(montage, lines, legend=True, font_size=size, note=note)
    buffer = BytesIO()
    Image.fromarray(canvas, mode="RGB").save(buffer, format="PNG")
    try:
        write_file_atomic(Path(path), buffer.getvalue())
    except OSError as exc:
        raise ExportError(f"preview PNG could not be written ({type(exc).__name__})") from exc
    return Path(path)
