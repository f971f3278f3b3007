from __future__ import annotations

import numpy as np
import pytest

from medcam.export.colormap import LUT, overlay
from medcam.export.render import (
    MIN_SHORT_SIDE,
    burn_in,
    layout,
    render_frame,
    upscale,
    upscale_factor,
    volume_window,
)
from medcam.export.types import BANNER

LINES = (BANNER, "demo-ct3d 1.0 | gradcam | lesion p=0.97")


def _frame(rows: int = 256, cols: int = 256) -> np.ndarray:
    gray = np.tile(np.linspace(60, 200, cols).astype(np.uint8), (rows, 1))
    cam = np.zeros((rows, cols))
    cam[rows // 3: rows // 2, cols // 3: cols // 2] = 0.8
    return overlay(gray, cam)


@pytest.mark.parametrize(("rows", "cols", "factor"),
                         [(64, 64, 4), (512, 512, 1), (100, 300, 3), (256, 1000, 1), (1, 1, 256)])
def test_upscale_factor(rows, cols, factor):
    assert upscale_factor(rows, cols) == factor
    assert min(rows, cols) * factor >= MIN_SHORT_SIDE


def test_upscale_is_pixel_centre_aligned():
    img = np.zeros((8, 8), dtype=np.float32)
    img[2, 5] = 1.0
    big = upscale(img, 4)
    assert big.shape == (32, 32)
    i, j = np.indices(big.shape)
    centroid = (float((i * big).sum() / big.sum()), float((j * big).sum() / big.sum()))
    # source pixel centre (2, 5) lies at (i + 0.5) * 4 - 0.5 in the enlarged grid
    assert centroid == pytest.approx((2 * 4 + 1.5, 5 * 4 + 1.5), abs=0.05)
    flat = upscale(np.full((5, 7), 0.5, dtype=np.float32), 3)
    assert np.allclose(flat, 0.5)
    assert upscale(np.full((5, 7), 77, dtype=np.uint8), 3).dtype == np.uint8


def test_banner_changes_the_top_rows_only_and_holds_text():
    plain = _frame()
    annotated = burn_in(plain, LINES, legend=False)
    lay = layout(256, 256)
    assert not np.array_equal(annotated[: lay.banner_bottom], plain[: lay.banner_bottom])
    assert np.array_equal(annotated[lay.banner_bottom:], plain[lay.banner_bottom:])
    band = annotated[: lay.banner_bottom]
    white = (band.min(axis=2) > 200).sum()
    assert white > 300  # glyph pixels of two text lines
    # each of the two lines has glyphs
    for i in range(2):
        top = lay.pad + i * lay.line_height
        assert (band[top: top + lay.line_height].min(axis=2) > 200).any()
    assert (burn_in(plain, LINES[:1], legend=False)[: lay.banner_bottom] != band).any()


def test_legend_shows_the_colour_scale():
    annotated = burn_in(_frame(), LINES)
    top, bottom, left, right = layout(256, 256).bar
    row = annotated[(top + bottom) // 2]
    assert (row[left] == LUT[0]).all()
    assert (row[right - 1] == LUT[255]).all()
    mid = row[(left + right - 1) // 2]
    assert np.abs(mid.astype(int) - LUT[128].astype(int)).max() <= 12
    bar = annotated[top:bottom, left:right].reshape(-1, 3)
    assert len({tuple(c) for c in bar}) > 150  # a gradient, not a flat fill


@pytest.mark.parametrize("line", ["m" * 40, "m" * 200])
def test_long_lines_are_shrunk_or_cut_to_fit(line):
    annotated = burn_in(np.zeros((256, 256, 3), dtype=np.uint8), (line,), legend=False)
    lay = layout(256, 256, 1)
    band = annotated[: lay.banner_bottom].max(axis=2)
    assert (band[:, :32] > 150).any()
    assert (band[:, 256 - lay.pad + 1:] < 60).all()  # nothing drawn into the right margin


def test_layout_scales_with_the_image():
    small, large = layout(256, 256), layout(1024, 2048)
    assert large.font_size >= 4 * small.font_size - 4
    assert small.banner_bottom < small.legend_top


def test_render_frame_enlarges_small_slices():
    values = np.zeros((64, 48), dtype=np.float32)
    cam = np.zeros((64, 48), dtype=np.float32)
    frame = render_frame(values, cam, (40.0, 400.0), False, upscale_factor(64, 48), LINES)
    assert frame.shape == (64 * 6, 48 * 6, 3)


def test_volume_window_is_per_volume():
    vol = np.linspace(-1000, 1000, 1000, dtype=np.float32).reshape(10, 10, 10)
    c, w = volume_window(vol, None)
    assert c == pytest.approx(0.0, abs=1e-3)
    assert w == pytest.approx(1960.0, rel=1e-3)
    assert volume_window(vol, (40.0, 0.5)) == (40.0, 1.0)
