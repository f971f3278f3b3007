"""Training cases for the demo models: what the pipeline would feed them, made fast.

A case is a random synthetic chest (:mod:`medcam.synthetic.phantom`) acquired on a
random geometry and brought onto the model grid by :mod:`medcam.synthetic.scanner`,
which follows ``medcam.model.preprocess.prepare`` step by step. Rendering a chest is
the costly part, so each source keeps a pool of nodule-free acquisitions (renewed one
at a time as training goes on) and puts a fresh nodule, exactly rendered in the box
around it, into a pooled acquisition for each positive case; noise, anti-aliasing,
resampling and scaling are done per case.

* CT: axial, coronal, sagittal or oblique planes, pixels 0.6-2.5 mm (rows and columns
  within 20 % of each other), slices 0.6-5 mm, 200-360 mm along the slice axis and
  280-400 mm in plane (so the model grid is often only partly covered), centre within
  30 mm of the chest's, 3-25 HU noise; nodules 6-30 mm, three in four in a lung.
* DX: PA radiographs, pixels 0.7-2 mm, 320-430 mm field, centre within 25 mm, noise
  0.3-1.5 % of the range; nodules 6-30 mm in a lung (a soft-tissue nodule adds too
  little attenuation to the whole chest's for a radiograph to show it).

``progress`` (0 to 1, the share of the training budget spent) drives a curriculum:
nodules of at least 16 mm at the start, the full 6-30 mm range from 40 % on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from medcam.geometry import PROJECTION_DIRECTION, Geometry
from medcam.model.grid import model_grid
from medcam.model.spec import ModelSpec
from medcam.synthetic.acquisition import random_acquisition
from medcam.synthetic.phantom import (
    ChestPhantom,
    Nodule,
    attenuation_integral,
    projection_index,
    random_nodule,
    random_phantom,
)
from medcam.synthetic.scanner import (
    acquire_ct,
    add_nodule,
    add_nodule_attenuation,
    add_noise,
    to_model_input,
    to_radiograph,
)

DX_DEPTH_STEP_MM = 2.0


@dataclass(frozen=True)
class Case:
    """A network input (``spec.input_size``), its label and the nodule on the model grid.

    ``nodule_index`` is the nodule centre in model-grid indices (slice, row, column for
    3D; row, column for 2D) and ``nodule_radius_mm`` its largest semi-axis; both ``None``
    without a nodule.
    """

    x: torch.Tensor
    label: int
    nodule_index: np.ndarray | None
    nodule_radius_mm: float | None


def nodule_range(progress: float, p_lung_final: float) -> tuple[tuple[float, float], float]:
    """(diameter range in mm, share of lung nodules) at ``progress`` of training."""
    ease = min(1.0, progress / 0.4)
    return (16.0 - 10.0 * ease, 30.0), 1.0 - (1.0 - p_lung_final) * ease


class CtSource:
    """CT cases from a pool of nodule-free acquisitions."""

    def __init__(self, spec: ModelSpec, rng: np.random.Generator, device: torch.device,
                 pool_size: int, max_voxels: int) -> None:
        self.spec, self.device, self.max_voxels = spec, device, max_voxels
        self.pool = [self._acquire(rng) for _ in range(pool_size)]

    def _acquire(self, rng: np.random.Generator) -> tuple[ChestPhantom, Geometry, torch.Tensor]:
        phantom = random_phantom(rng)
        center = np.asarray(phantom.center) + rng.uniform(-30.0, 30.0, 3)
        source = random_acquisition(rng, center, pixel_mm=(0.6, 2.5), slice_mm=(0.6, 5.0),
                                    max_voxels=self.max_voxels)
        return phantom, source, acquire_ct(phantom, source, noise_hu=0.0, device=self.device)

    def renew(self, rng: np.random.Generator) -> None:
        """Replace one pooled acquisition by a new chest."""
        self.pool[int(rng.integers(len(self.pool)))] = self._acquire(rng)

    def case(self, rng: np.random.Generator, progress: float = 1.0) -> Case:
        """A case with a nodule in half the draws."""
        phantom, source, volume = self.pool[int(rng.integers(len(self.pool)))]
        nodule = None
        if rng.uniform() < 0.5:
            diameters, p_lung = nodule_range(progress, 0.75)
            nodule = random_nodule(phantom, rng, diameter_mm=diameters, p_lung=p_lung)
            volume = add_nodule(volume, phantom, nodule, source)
        noisy = add_noise(volume, float(rng.uniform(3.0, 25.0)), _generator(rng, self.device))
        where = None if nodule is None else \
            model_grid(self.spec, source).lps_to_index(np.asarray(nodule.center))
        return _case(to_model_input(noisy, source, self.spec), nodule, where)


class DxSource:
    """Radiograph cases from a pool of nodule-free attenuation integrals."""

    def __init__(self, spec: ModelSpec, rng: np.random.Generator, device: torch.device,
                 pool_size: int, max_voxels: int = 0) -> None:
        del max_voxels
        self.spec, self.device = spec, device
        self.pool = [self._acquire(rng) for _ in range(pool_size)]

    def _acquire(self, rng: np.random.Generator) -> tuple[ChestPhantom, float, tuple, torch.Tensor]:
        phantom = random_phantom(rng)
        pixel = float(rng.uniform(0.7, 2.0))
        shape = tuple(int(rng.uniform(320.0, 430.0) / pixel) for _ in range(2))
        shift = np.array([rng.uniform(-25, 25), 0.0, rng.uniform(-25, 25)])
        center = tuple(float(v) for v in np.asarray(phantom.center) + shift)
        like = torch.zeros((), dtype=torch.float32, device=self.device)
        total = attenuation_integral(phantom, shape, pixel, DX_DEPTH_STEP_MM, like=like,
                                     center=center)
        return phantom, pixel, center, total

    renew = CtSource.renew

    def case(self, rng: np.random.Generator, progress: float = 1.0) -> Case:
        """A case with a lung nodule in half the draws."""
        phantom, pixel, center, total = self.pool[int(rng.integers(len(self.pool)))]
        rows, cols = total.shape
        source = Geometry((1, rows, cols), (1.0, pixel, pixel), (0.0, 0.0, 0.0),
                          PROJECTION_DIRECTION)
        nodule, where = None, None
        if rng.uniform() < 0.5:
            diameters, _ = nodule_range(progress, 1.0)
            nodule = random_nodule(phantom, rng, diameter_mm=diameters, p_lung=1.0)
            total = add_nodule_attenuation(total, phantom, nodule, pixel, DX_DEPTH_STEP_MM,
                                           center)
            rc = projection_index(nodule.center, (rows, cols), pixel, center)
            grid = model_grid(self.spec, source)
            where = grid.lps_to_index(source.index_to_lps(np.r_[0.0, rc]))[1:]
        image = to_radiograph(total, float(rng.uniform(0.003, 0.015)), _generator(rng, self.device))
        return _case(to_model_input(image, source, self.spec), nodule, where)


def _generator(rng: np.random.Generator, device: torch.device) -> torch.Generator:
    """A torch generator on ``device`` seeded from ``rng``."""
    return torch.Generator(device=device).manual_seed(int(rng.integers(2**31)))


def _case(x: torch.Tensor, nodule: Nodule | None, where: np.ndarray | None) -> Case:
    return Case(x, int(nodule is not None), where,
                None if nodule is None else float(max(nodule.radii)))


SOURCES = {"ct3d": CtSource, "dx2d": DxSource}
