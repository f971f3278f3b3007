"""A synthetic chest phantom, evaluated analytically at any voxel grid in LPS space.

The phantom is defined in patient coordinates (mm, LPS) around a chest centre, so
the same patient can be "scanned" in any orientation, spacing and field of view:
every voxel centre of a :class:`~medcam.geometry.Geometry` is mapped to LPS and the
tissue there is evaluated. Edges are smoothed over about half a millimetre, which
stands in for partial-volume averaging.

Anatomy (HU): air -1000 outside an elliptic-cylinder body (soft tissue +40, a
subcutaneous fat layer -90), two ellipsoidal lungs (-850), a heart (+45) between
them, a vertebral column (+450) posteriorly. A nodule is an ellipsoid of 6-30 mm
diameter, either in a lung (solid, -100..+60 HU) or in soft tissue (+60..+150 HU
above the tissue around it).

Evaluation is written against the array API (through ``array_api_compat``), so the
same code renders NumPy arrays on the CPU for tests and samples, and torch tensors on
any device for training (:mod:`medcam.synthetic.scanner`).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace, device
from numpy.typing import NDArray

from medcam.geometry import Geometry

#: A NumPy array or another array-API array (a torch tensor on any device).
Array = Any

__all__ = ["ChestPhantom", "Nodule", "attenuation_integral", "projection_index", "random_nodule",
           "random_phantom", "render_ct", "render_radiograph"]

AIR_HU = -1000.0
EDGE_MM = 0.6
_EDGE: ContextVar[float] = ContextVar("medcam_phantom_edge_mm", default=EDGE_MM)


@dataclass(frozen=True)
class Nodule:
    """An ellipsoidal nodule in LPS space.

    Args:
        center: LPS centre in mm.
        radii: semi-axes in mm (diameters 6-30 mm for the demo task).
        rotation: 3x3 rotation (row-major, 9 values) from nodule axes to LPS.
        hu: attenuation inside the nodule, absolute HU if ``in_lung`` else added
            to the tissue value around it.
        in_lung: whether the nodule sits in a lung.

    """

    center: tuple[float, float, float]
    radii: tuple[float, float, float]
    rotation: tuple[float, ...]
    hu: float
    in_lung: bool

    def __post_init__(self) -> None:
        if min(self.radii) <= 0 or len(self.rotation) != 9:
            raise ValueError("nodule radii must be positive and rotation a 3x3 matrix")


@dataclass(frozen=True)
class ChestPhantom:
    """Body and organ sizes of one synthetic patient (mm, LPS, around ``center``)."""

    center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    body_radii: tuple[float, float] = (165.0, 115.0)
    lung_radii: tuple[float, float, float] = (58.0, 78.0, 120.0)
    lung_offset: tuple[float, float, float] = (78.0, 5.0, 10.0)
    heart_radii: tuple[float, float, float] = (55.0, 48.0, 55.0)
    spine_radius: float = 18.0
    tissue_hu: float = 40.0
    nodule: Nodule | None = None

    def evaluate(self, points: Array, edge_mm: float = EDGE_MM) -> Array:
        """HU at (..., 3) LPS points; ``edge_mm`` sets how soft tissue edges are.

        ``points`` is a NumPy array (float32 HU comes back) or any array-API array,
        such as a torch tensor on a GPU (the result keeps its dtype and device).
        """
        token = _EDGE.set(edge_mm)
        try:
            return self._evaluate(points)
        finally:
            _EDGE.reset(token)

    def _evaluate(self, points: Array) -> Array:
        xp = array_namespace(points)
        p = points - _const(points, self.center)
        x, y = p[..., 0], p[..., 1]
        body_q = xp.sqrt((x / self.body_radii[0]) ** 2 + (y / self.body_radii[1]) ** 2)
        body = _inside(body_q, min(self.body_radii))
        inner = _inside(body_q, min(self.body_radii), margin_mm=12.0)
        hu = AIR_HU + body * (self.tissue_hu - 90.0 - AIR_HU) + inner * 90.0
        lungs = xp.zeros_like(x)
        lx, ly, lz = self.lung_offset
        for side in (-1.0, 1.0):
            q = _ellipsoid_q(p, (side * lx, ly, lz), self.lung_radii)
            lungs = xp.maximum(lungs, _inside(q, min(self.lung_radii)))
        heart = _inside(_ellipsoid_q(p, (18.0, -35.0, -25.0), self.heart_radii),
                        min(self.heart_radii))
        lungs = lungs * (1.0 - heart)
        hu = hu + lungs * (-850.0 - self.tissue_hu) + heart * 5.0
        spine_q = xp.sqrt(x**2 + (y - 88.0) ** 2) / self.spine_radius
        hu = hu + _inside(spine_q, self.spine_radius) * (450.0 - self.tissue_hu)
        if self.nodule is not None:
            hu = self._add_nodule(hu, points, self.nodule)
        return hu.astype(np.float32) if isinstance(hu, np.ndarray) else hu

    def _add_nodule(self, hu: Array, points: Array, n: Nodule) -> Array:
        xp = array_namespace(points)
        rot = _const(points, n.rotation)
        local = (points - _const(points, n.center)) @ xp.reshape(rot, (3, 3))
        q = xp.sqrt(xp.sum((local / _const(points, n.radii)) ** 2, axis=-1))
        w = _inside(q, min(n.radii))
        target = n.hu if n.in_lung else hu + n.hu
        return hu + w * (target - hu)

    def lung_mask(self, points: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Whether (..., 3) LPS points lie at least 1 mm inside a lung (not the heart)."""
        p = points - np.asarray(self.center)
        lx, ly, lz = self.lung_offset
        inside = np.zeros(p.shape[:-1], dtype=bool)
        for side in (-1.0, 1.0):
            inside |= _ellipsoid_q(p, (side * lx, ly, lz), self.lung_radii) < 1.0
        heart_q = _ellipsoid_q(p, (18.0, -35.0, -25.0), self.heart_radii)
        lungs: NDArray[np.bool_] = inside & (heart_q > 1.15)
        return lungs


def _const(like: Array, values: tuple[float, ...]) -> Array:
    """``values`` as an array of ``like``'s namespace, dtype and device."""
    xp = array_namespace(like)
    return xp.asarray(values, dtype=like.dtype, device=device(like))


def _ellipsoid_q(p: Array, c: tuple[float, float, float], r: tuple[float, float, float]
                 ) -> Array:
    xp = array_namespace(p)
    return xp.sqrt(xp.sum(((p - _const(p, c)) / _const(p, r)) ** 2, axis=-1))


def _inside(q: Array, radius_mm: float, margin_mm: float = 0.0) -> Array:
    """Soft indicator of ``q < 1`` (shrunk by ``margin_mm``), edges ``EDGE_MM`` wide.

    ``(q - 1) * radius_mm`` approximates the signed distance to the surface.
    """
    xp = array_namespace(q)
    dist = (q - 1.0) * radius_mm + margin_mm
    return 0.5 * (1.0 - xp.tanh(dist / _EDGE.get()))


def _random_rotation(rng: np.random.Generator) -> NDArray[np.float64]:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def random_phantom(rng: np.random.Generator, center: tuple[float, float, float] = (0, 0, 0)
                   ) -> ChestPhantom:
    """A phantom with body and organ sizes varied by about +-10 %."""
    s = rng.uniform(0.88, 1.08)
    return ChestPhantom(
        center=tuple(np.asarray(center) + rng.uniform(-10, 10, 3)),
        body_radii=(165.0 * s * rng.uniform(0.95, 1.05), 115.0 * s * rng.uniform(0.95, 1.05)),
        lung_radii=tuple(np.array([58.0, 78.0, 120.0]) * s * rng.uniform(0.92, 1.08, 3)),
        lung_offset=(78.0 * s, 5.0, 10.0),
        tissue_hu=float(rng.uniform(30, 50)),
    )


def random_nodule(phantom: ChestPhantom, rng: np.random.Generator, *,
                  diameter_mm: tuple[float, float] = (6.0, 30.0),
                  p_lung: float = 0.75) -> Nodule:
    """A nodule placed fully inside a lung (probability ``p_lung``) or in soft tissue."""
    d = rng.uniform(*diameter_mm)
    radii = tuple(d / 2 * rng.uniform(0.8, 1.2, 3))
    rot = _random_rotation(rng)
    in_lung = bool(rng.uniform() < p_lung)
    c = np.asarray(phantom.center)
    for _ in range(2000):
        if in_lung:
            side = rng.choice([-1.0, 1.0])
            lx, ly, lz = phantom.lung_offset
            off = rng.uniform(-1, 1, 3) * np.asarray(phantom.lung_radii)
            point = c + np.array([side * lx, ly, lz]) + off
            probe = point + rng.normal(size=(32, 3)) / 1.7 * max(radii)
            if phantom.lung_mask(np.vstack([point, probe])).all():
                return Nodule(tuple(point), radii, tuple(rot.ravel()),
                              float(rng.uniform(-100, 60)), True)
        else:
            point = c + rng.uniform(-1, 1, 3) * np.array([140.0, 95.0, 100.0])
            probe = point + rng.normal(size=(32, 3)) / 1.5 * (max(radii) + 8)
            pts = np.vstack([point, probe])
            hu = phantom.evaluate(pts)
            if (np.abs(hu - phantom.tissue_hu) < 25).all():
                return Nodule(tuple(point), radii, tuple(rot.ravel()),
                              float(rng.uniform(60, 150)), False)
    raise RuntimeError("could not place a nodule")  # pragma: no cover - geometry is roomy


def render_ct(phantom: ChestPhantom, geometry: Geometry, rng: np.random.Generator | None = None,
              noise_hu: float = 12.0) -> NDArray[np.float32]:
    """HU volume of ``phantom`` sampled at the voxel centres of ``geometry``, plus noise."""
    vol: NDArray[np.float32] = phantom.evaluate(geometry.voxel_centers())
    if rng is not None and noise_hu > 0:
        vol = vol + rng.normal(0.0, noise_hu, vol.shape).astype(np.float32)
    return vol


def attenuation_integral(phantom: ChestPhantom, shape: tuple[int, int], pixel_spacing: float,
                         depth_step_mm: float = 4.0, *, like: Array | None = None,
                         center: tuple[float, float, float] | None = None,
                         chunk: int = 8) -> Array:
    """Line integral (mm) of linear attenuation (relative to water) along y, per pixel.

    A PA geometry: rows run from head to feet (-z), columns from the patient's right to
    left (+x), both centred on ``center`` (default: the phantom's); the integral runs
    from 140 mm anterior to 140 mm posterior of the centre in ``depth_step_mm`` steps.
    Computed in NumPy (float64), or on ``like``'s namespace, dtype and device (a torch
    tensor on a GPU).
    """
    xp = np if like is None else array_namespace(like)
    kw = {"dtype": np.float64} if like is None else {"dtype": like.dtype, "device": device(like)}
    rows, cols = shape
    c = phantom.center if center is None else center
    zs = c[2] - (xp.arange(rows, **kw) - (rows - 1) / 2) * pixel_spacing
    xs = c[0] + (xp.arange(cols, **kw) - (cols - 1) / 2) * pixel_spacing
    ys = c[1] + xp.arange(-140.0, 140.0 + 1e-6, depth_step_mm, **kw)
    zz, xx = xp.meshgrid(zs, xs, indexing="ij")
    total = xp.zeros((rows, cols), **kw)
    for start in range(0, ys.shape[0], chunk):
        y = ys[start:start + chunk][:, None, None]
        n = y.shape[0]
        pts = xp.stack([xp.broadcast_to(xx, (n, rows, cols)), xp.broadcast_to(y, (n, rows, cols)),
                        xp.broadcast_to(zz, (n, rows, cols))], axis=-1)
        mu = (phantom.evaluate(pts) - AIR_HU) / 1000.0
        total = total + xp.sum(xp.clip(mu, 0.0, None), axis=0) * depth_step_mm
    return total


def projection_index(point: tuple[float, float, float] | NDArray[np.float64],
                     shape: tuple[int, int], pixel_spacing: float,
                     center: tuple[float, float, float] | NDArray[np.float64]
                     ) -> NDArray[np.float64]:
    """(row, column) where the LPS ``point`` projects in :func:`attenuation_integral`'s image.

    Rows grow towards the feet (-z), columns towards the patient's left (+x), and the
    image of ``shape`` is centred on ``center``.
    """
    rows, cols = shape
    return np.array([(center[2] - point[2]) / pixel_spacing + (rows - 1) / 2,
                     (point[0] - center[0]) / pixel_spacing + (cols - 1) / 2])


def render_radiograph(phantom: ChestPhantom, shape: tuple[int, int], pixel_spacing: float,
                      rng: np.random.Generator | None = None, depth_step_mm: float = 4.0,
                      noise: float = 0.01) -> NDArray[np.float32]:
    """A PA projection radiograph in [0, 1] (bright = attenuating).

    ``1 - exp(-integral / 180 mm)`` of :func:`attenuation_integral`, plus Gaussian noise.
    """
    img = 1.0 - np.exp(-attenuation_integral(phantom, shape, pixel_spacing, depth_step_mm)
                       / 180.0)
    if rng is not None and noise > 0:
        img = img + rng.normal(0.0, noise, img.shape)
    out: NDArray[np.float32] = np.clip(img, 0, 1).astype(np.float32)
    return out
