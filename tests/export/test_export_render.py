from __future__ import annotations

import numpy as np
import pytest

from medcam.export.colormap import LUT, overlay, window_to_uint8
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


def test_banner_is_a_band_above_the_untouched_image_and_holds_text():
    plain = _frame()
    annotated = burn_in(plain, LINES, legend=False)
    lay = layout(256, 256, legend=False)
    assert lay.banner_bottom > 0 and lay.legend_height == 0
    assert annotated.shape == (lay.banner_bottom + 256, 256, 3) == (lay.rows, 256, 3)
    assert np.array_equal(annotated[lay.banner_bottom:], plain)  # every image pixel kept
    band = annotated[: lay.banner_bottom]
    white = (band.min(axis=2) > 200).sum()
    assert white > 300  # glyph pixels of two text lines
    # each of the two lines has glyphs
    for i in range(2):
        top = lay.pad + i * lay.line_height
        assert (band[top: top + lay.line_height].min(axis=2) > 200).any()
    assert (burn_in(plain, LINES[:1], legend=False)[: lay.banner_bottom] != band).any()


def test_legend_is_a_band_below_the_image():
    plain = _frame()
    annotated = burn_in(plain, LINES)
    lay = layout(256, 256)
    assert annotated.shape == (lay.rows, 256, 3)
    assert lay.rows == lay.banner_bottom + 256 + lay.legend_height
    assert np.array_equal(annotated[lay.banner_bottom:lay.legend_top], plain)
    legend = annotated[lay.legend_top:]
    assert (legend.min(axis=2) > 200).sum() > 100  # the note's glyphs
    assert lay.legend_top <= lay.bar[0] < lay.bar[1] <= lay.rows


def test_legend_note_says_what_the_scale_means():
    a = burn_in(_frame(), LINES, note="relative activation, normalised per volume")
    b = burn_in(_frame(), LINES, note="calibrated activation, 1 = model's reference level")
    lay = layout(256, 256)
    assert np.array_equal(a[: lay.legend_top], b[: lay.legend_top])
    assert not np.array_equal(a[lay.bar[1]:], b[lay.bar[1]:])


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
    lay = layout(64 * 6, 48 * 6)
    assert frame.shape == (lay.rows, 48 * 6, 3)
    assert lay.legend_top - lay.banner_bottom == 64 * 6


def _slice(rows: int = 40, cols: int = 30) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    values = rng.normal(0.0, 300.0, (rows, cols)).astype(np.float32)
    cam = np.zeros((rows, cols), dtype=np.float32)
    cam[10:25, 5:20] = np.linspace(0.0, 2.0, 15, dtype=np.float32)[None, :]
    return values, cam


def test_image_region_is_the_blend_of_the_source_only():
    values, cam = _slice()
    factor = upscale_factor(*values.shape)
    frame = render_frame(values, cam, (0.0, 800.0), False, factor, LINES,
                         opacity=0.7, threshold=0.2)
    lay = layout(40 * factor, 30 * factor)
    expected = overlay(upscale(window_to_uint8(values, 0.0, 800.0), factor),
                       np.clip(upscale(cam, factor), 0.0, 1.0), alpha_max=0.7, threshold=0.2)
    assert np.array_equal(frame[lay.banner_bottom:lay.legend_top], expected)
    assert frame.shape[0] - expected.shape[0] == lay.banner_bottom + lay.legend_height


def test_values_above_one_are_coloured_as_one():
    values, cam = _slice()
    clipped = np.minimum(cam, 1.0)
    a = render_frame(values, cam, (0.0, 800.0), False, 1, (), legend=False)
    b = render_frame(values, clipped, (0.0, 800.0), False, 1, (), legend=False)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, render_frame(values, cam * 0.5, (0.0, 800.0), False, 1, (),
                                              legend=False))


def test_threshold_and_opacity():
    values, cam = _slice()
    grey = window_to_uint8(values, 0.0, 800.0)
    low = np.full_like(cam, 0.3)
    frame = render_frame(values, low, (0.0, 800.0), False, 1, (), legend=False, threshold=0.4)
    assert np.array_equal(frame, np.repeat(grey[..., None], 3, axis=2))  # not coloured
    full = render_frame(values, np.ones_like(cam), (0.0, 800.0), False, 1, (), legend=False,
                        opacity=1.0)
    assert (full == LUT[255]).all()  # opaque at 1: the colour only


def test_volume_window_is_per_volume():
    vol = np.linspace(-1000, 1000, 1000, dtype=np.float32).reshape(10, 10, 10)
    c, w = volume_window(vol, None)
    assert c == pytest.approx(0.0, abs=1e-3)
    assert w == pytest.approx(1960.0, rel=1e-3)
    assert volume_window(vol, (40.0, 0.5)) == (40.0, 1.0)
