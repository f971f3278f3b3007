"""The virtual scanner feeds training what ``prepare`` feeds the model at inference."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import medcam
from medcam.geometry import PROJECTION_DIRECTION, Geometry
from medcam.model.load import resolve_spec
from medcam.model.preprocess import prepare
from medcam.synthetic.acquisition import (
    ORIENTATIONS,
    make_geometry,
    plane_direction,
    random_acquisition,
)
from medcam.synthetic.dicom import write_series
from medcam.synthetic.phantom import (
    ChestPhantom,
    Nodule,
    attenuation_integral,
    projection_index,
    random_nodule,
    random_phantom,
    render_ct,
    render_radiograph,
)
from medcam.synthetic.projection import write_projection
from medcam.synthetic.scanner import (
    acquire_ct,
    acquire_radiograph,
    add_nodule,
    add_nodule_attenuation,
    gaussian_smooth,
    resample,
    to_model_input,
)

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
NODULE = Nodule((-70.0, -20.0, 30.0), (9.0, 8.0, 10.0), IDENTITY, 20.0, True)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_ct_input_matches_the_pipeline(tmp_path: Path, orientation: str) -> None:
    rng = np.random.default_rng(7)
    phantom = ChestPhantom(nodule=NODULE)
    geometry = make_geometry(plane_direction(orientation, rng), np.array([5.0, -8.0, 12.0]),
                             (240.0, 300.0, 320.0), (4.0, 1.6, 1.4))
    write_series(render_ct(phantom, geometry, None), geometry, tmp_path, uid_seed=orientation)
    spec = resolve_spec("demo-ct3d")
    expected = prepare(medcam.read_series(tmp_path), spec).tensor[0, 0].numpy()
    got = to_model_input(acquire_ct(phantom, geometry, noise_hu=0.0), geometry, spec).numpy()
    assert got.shape == expected.shape == spec.input_size
    diff = np.abs(got - expected)
    # Same points, same interpolation: only the Gaussian filter differs (sampled vs
    # recursive) and stored values are rounded to 1 HU.
    assert diff.mean() < 2e-3
    assert np.quantile(diff, 0.999) < 0.03


def test_radiograph_input_matches_the_pipeline(tmp_path: Path) -> None:
    phantom = ChestPhantom(nodule=NODULE)
    image = render_radiograph(phantom, (300, 280), 1.2, None, depth_step_mm=2.0)
    write_projection(image, (1.2, 1.2), tmp_path / "dx.dcm", modality="DX", uid_seed="dx")
    spec = resolve_spec("demo-dx2d")
    expected = prepare(medcam.read_series(tmp_path), spec).tensor[0, 0].numpy()
    source = Geometry((1, 300, 280), (1.0, 1.2, 1.2), (0.0, 0.0, 0.0), PROJECTION_DIRECTION)
    radiograph = acquire_radiograph(phantom, (300, 280), 1.2, noise=0.0)
    got = to_model_input(radiograph, source, spec).numpy()
    assert got.shape == expected.shape == spec.input_size
    diff = np.abs(got - expected)
    assert diff.mean() < 3e-3  # stored values are 12-bit
    assert np.quantile(diff, 0.999) < 0.03


def test_resample_places_a_marker_at_its_lps_point() -> None:
    rng = np.random.default_rng(3)
    source = make_geometry(plane_direction("oblique", rng), np.zeros(3), (60.0, 60.0, 60.0),
                           (3.0, 1.5, 1.25))
    grid = make_geometry(plane_direction("axial", rng), np.array([1.0, -2.0, 0.5]),
                         (40.0, 40.0, 40.0), (1.0, 1.0, 1.0))
    target = np.array([3.0, -4.0, 6.0])
    # a smooth blob centred on ``target`` (an impulse would alias)
    points = source.voxel_centers()
    blob = np.exp(-((points - target) ** 2).sum(-1) / (2 * 4.0**2))
    out = resample(torch.from_numpy(blob).float(), source, grid, 0.0).numpy()
    centroid = (grid.voxel_centers() * out[..., None]).sum((0, 1, 2)) / out.sum()
    assert np.linalg.norm(centroid - target) <= 0.25
    # outside the source: the outside value
    far = make_geometry(plane_direction("axial", rng), np.array([200.0, 0.0, 0.0]),
                        (10.0, 10.0, 10.0), (1.0, 1.0, 1.0))
    assert (resample(torch.from_numpy(blob).float(), source, far, -7.0) == -7.0).all()


def test_gaussian_smooth_keeps_the_mean_and_blurs_one_axis() -> None:
    volume = torch.zeros(9, 15, 9)
    volume[4, 7, 4] = 1.0
    out = gaussian_smooth(volume, [0.0, 1.5, 0.0])
    assert torch.isclose(out.sum(), torch.tensor(1.0), atol=1e-5)
    assert out[4, 3:12, 4].min() > 0 and out[3].abs().max() == 0 and out[4, 7, 3] == 0
    assert out[4, 7, 4] < 0.3


def test_nodule_added_to_a_pooled_acquisition_equals_rendering_it() -> None:
    rng = np.random.default_rng(4)
    phantom = random_phantom(rng)
    nodule = random_nodule(phantom, rng, p_lung=0.5)
    source = random_acquisition(rng, np.asarray(phantom.center), max_voxels=400_000)
    pooled = acquire_ct(phantom, source, noise_hu=0.0)
    added = add_nodule(pooled, phantom, nodule, source)
    rendered = acquire_ct(replace(phantom, nodule=nodule), source, noise_hu=0.0)
    assert float((rendered - pooled).abs().max()) > 100.0  # the nodule is in the scan
    assert torch.allclose(added, rendered, atol=1e-3)


def test_nodule_added_to_a_pooled_radiograph_equals_rendering_it() -> None:
    rng = np.random.default_rng(5)
    phantom = random_phantom(rng)
    nodule = random_nodule(phantom, rng, p_lung=1.0)
    like = torch.zeros((), dtype=torch.float64)
    centre = (phantom.center[0] + 7.0, phantom.center[1], phantom.center[2] - 11.0)
    args = ((120, 100), 3.0, 4.0)
    pooled = attenuation_integral(phantom, *args, like=like, center=centre)
    added = add_nodule_attenuation(pooled, phantom, nodule, 3.0, 4.0, centre)
    rendered = attenuation_integral(replace(phantom, nodule=nodule), *args, like=like,
                                    center=centre)
    assert float((rendered - pooled).abs().max()) > 1.0
    assert torch.allclose(added, rendered, atol=1e-9)
    # and the nodule projects where projection_index says
    row, col = np.unravel_index(int((rendered - pooled).argmax()), (120, 100))
    expected = projection_index(nodule.center, (120, 100), 3.0, centre)
    assert np.abs(np.array([row, col]) - expected).max() <= max(nodule.radii) / 3.0
