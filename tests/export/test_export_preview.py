from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from medcam.errors import ExportError
from medcam.export.colormap import LUT
from medcam.export.preview import hottest_slices, preview_png
from medcam.export.render import layout
from tests.export._sources import INFO, peaked_cam


def test_hottest_slices_by_maximum_in_slice_order():
    cam = np.zeros((8, 4, 4), dtype=np.float32)
    for k, peak in enumerate([0.1, 0.9, 0.2, 1.0, 0.3, 0.9, 0.0, 0.5]):
        cam[k, 1, 2] = peak
    assert hottest_slices(cam, 3) == (1, 3, 5)
    assert hottest_slices(cam, 1) == (3,)
    assert hottest_slices(cam, 20) == tuple(range(8))


def test_preview_png(volume_factory, tmp_path):
    src = volume_factory("pv", n=8, rows=40, cols=40)
    levels = [0.1, 0.2, 1.0, 0.3, 0.9, 0.2, 0.8, 0.1]
    cam = peaked_cam(src.series.array.shape, levels)
    path = preview_png(src.series, cam, tmp_path / "sub" / "preview.png", n=4, info=INFO)
    assert path == tmp_path / "sub" / "preview.png"
    image = np.asarray(Image.open(path).convert("RGB"))
    tile = 40 * 5  # 40 px enlarged to at least 192
    assert image.shape[1] == 3 * tile
    lay = layout(2 * tile, 3 * tile, 2, max(11, min(2 * tile, 3 * tile) // 20))
    assert image.shape[0] == lay.rows == lay.banner_bottom + 2 * tile + lay.legend_height
    # the banner is there: bright glyph pixels in the dark top band
    assert (image[: lay.banner_bottom].min(axis=2) > 200).sum() > 300
    # the legend bar ends in the top colour of the scale
    top, bottom, _, right = lay.bar
    assert (image[(top + bottom) // 2, right - 1] == LUT[255]).all()
    # an empty grid cell (4 tiles in a 3x2 grid) stays black
    cell = image[lay.banner_bottom + tile + 5: lay.banner_bottom + 2 * tile - 5,
                 2 * tile + 5: 3 * tile - 5]
    assert cell.max() == 0
    again = preview_png(src.series, cam, tmp_path / "again.png", n=4, info=INFO)
    assert again.read_bytes() == path.read_bytes()
    assert sorted(p.name for p in path.parent.iterdir()) == ["preview.png"]


def test_preview_rejects_bad_input(volume_factory, tmp_path):
    src = volume_factory("pvbad", n=2)
    with pytest.raises(ExportError):
        preview_png(src.series, np.full(src.series.array.shape, 2.0), tmp_path / "p.png")
    with pytest.raises(ExportError):
        preview_png(src.series, np.zeros((1, 2, 2)), tmp_path / "p.png")
    with pytest.raises(ExportError):
        preview_png(src.series, np.zeros(src.series.array.shape), tmp_path / "p.png", n=0)
    assert not (tmp_path / "p.png").exists()


def test_preview_write_failure_leaves_nothing(volume_factory, tmp_path):
    src = volume_factory("pvfail", n=2)
    target = tmp_path / "dir-in-the-way"
    target.mkdir()
    (target / "x").write_text("x")
    with pytest.raises(ExportError):
        preview_png(src.series, np.zeros(src.series.array.shape), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir-in-the-way", "src-pvfail"]
