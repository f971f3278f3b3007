from __future__ import annotations

import numpy as np
import pytest

from medcam.export.colormap import LUT, colorize, lut_index, overlay, window_to_uint8


def test_lut_is_a_fixed_256_entry_rgb_scale_without_repeats():
    assert LUT.shape == (256, 3)
    assert LUT.dtype == np.uint8
    assert not LUT.flags.writeable
    assert len({tuple(c) for c in LUT}) > 240  # adjacent entries are distinguishable
    # Turbo runs dark -> blue -> green -> orange -> dark red
    assert int(LUT[0].sum()) < 120
    assert LUT[64][2] > LUT[64][0]
    assert LUT[128][1] > 200
    assert LUT[255][0] > 100
    assert LUT[255][2] < 10


def test_half_value_maps_to_half_the_scale():  # B-14 at the colour-scale level
    idx = lut_index(np.array([0.0, 0.5, 1.0]))
    assert idx.tolist() == [0, 128, 255]
    assert abs(idx[1] / 255 - 0.5) <= 0.02
    assert (colorize(np.array([0.5])) == LUT[128]).all()


@pytest.mark.parametrize("bad", [-0.01, 1.01, np.nan, np.inf])
def test_out_of_range_values_are_rejected(bad):
    with pytest.raises(ValueError):
        lut_index(np.array([0.2, bad]))


def test_linear_voi_window_matches_the_dicom_formula():
    # PS3.3 C.11.2.1.2.1 with c=40, w=400: x <= -160 -> 0, x > 239 -> 255
    values = np.array([-1000, -160, -159.5, 40, 239, 239.5, 3000], dtype=float)
    out = window_to_uint8(values, 40, 400)
    expected = np.clip(np.rint(((values - 39.5) / 399 + 0.5) * 255), 0, 255)
    expected[values <= -160] = 0
    expected[values > 239] = 255
    assert out.tolist() == expected.astype(int).tolist()
    assert out[0] == 0
    assert out[-1] == 255
    assert out[3] == 128


def test_monochrome1_is_inverted_for_display():
    values = np.array([-1000.0, 40.0, 3000.0])
    assert (window_to_uint8(values, 40, 400, monochrome1=True)
            == 255 - window_to_uint8(values, 40, 400)).all()
    assert window_to_uint8(values, 40, 400, monochrome1=True)[0] == 255


def test_width_one_is_a_threshold():
    assert window_to_uint8(np.array([9.4, 9.5, 9.6]), 10, 1).tolist() == [0, 0, 255]


@pytest.mark.parametrize(("center", "width"), [(0, 0.5), (np.nan, 10), (0, np.inf)])
def test_bad_windows_are_rejected(center, width):
    with pytest.raises(ValueError):
        window_to_uint8(np.zeros(3), center, width)


def test_overlay_blends_with_value_dependent_opacity_and_threshold():
    gray = np.full((2, 3), 100, dtype=np.uint8)
    cam = np.array([[0.0, 0.05, 0.5], [1.0, 1.0, 0.2]])
    out = overlay(gray, cam, alpha_max=0.5, threshold=0.1)
    assert out.shape == (2, 3, 3)
    assert out.dtype == np.uint8
    assert (out[0, 0] == 100).all()
    assert (out[0, 1] == 100).all()
    expected = np.rint(100 * 0.75 + LUT[128].astype(float) * 0.25)
    assert (out[0, 2] == expected).all()
    expected_full = np.rint(100 * 0.5 + LUT[255].astype(float) * 0.5)
    assert (out[1, 0] == expected_full).all()


def test_overlay_does_not_renormalise():
    gray = np.zeros((4, 4), dtype=np.uint8)
    faint = overlay(gray, np.full((4, 4), 0.5))
    strong = overlay(gray, np.full((4, 4), 1.0))
    assert not np.array_equal(faint, strong)


def test_overlay_rejects_mismatched_inputs():
    gray = np.zeros((4, 4), dtype=np.uint8)
    with pytest.raises(ValueError):
        overlay(gray, np.zeros((4, 5)))
    with pytest.raises(ValueError):
        overlay(gray.astype(np.int16), np.zeros((4, 4)))
    with pytest.raises(ValueError):
        overlay(gray, np.zeros((4, 4)), alpha_max=0.0)
