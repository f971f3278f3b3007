"""Does a series fit a model? Body part, field of view and grid coverage, checked before inference.

A :class:`~medcam.model.spec.ModelSpec` may declare:

* ``body_parts``: accepted Body Part Examined (0018,0015) values, compared after
  stripping spaces and upper-casing (DICOM Defined Terms such as ``CHEST``). A
  series with another value is refused; a series without the attribute is accepted
  with a warning (many archives leave it empty).
* ``min_coverage_mm``: the smallest field of view the model was built for, one value
  per spatial axis of its input (3D: slice, row, column; 2D: row, column), or one
  value for every axis. The series' own extent along its (slice, row, column) axes,
  ``size x spacing``, must reach it (a 16 x 16 pixel patch is not a chest).

Both checks raise :class:`~medcam.errors.ModelError` (exit 2 in the CLI) unless the
caller forces the run (``--force``).

Grid coverage: the model grid is centred on the series with a fixed size, so a
series larger than the grid is explained only where the grid reaches (the map is 0
elsewhere). :func:`coverage_warnings` samples the series' voxel centres on a
lattice of at most 32 points per axis and warns when less than
:data:`MIN_GRID_COVERAGE` of them fall inside the grid.
"""

from __future__ import annotations

import numpy as np

from medcam.errors import ModelError
from medcam.geometry import Geometry
from medcam.model.spec import ModelSpec
from medcam.series.types import Series

__all__ = ["MIN_GRID_COVERAGE", "check_fit", "coverage_warnings", "fit_warnings",
           "grid_coverage"]

#: Warn when the model grid holds less than this fraction of the series' field of view.
MIN_GRID_COVERAGE = 0.9
_LATTICE = 32


def _body_part(series: Series) -> str:
    ds = series.headers[0] if series.headers else None
    return str(ds.get("BodyPartExamined", "") or "").strip().upper() if ds is not None else ""


def _extent_mm(series: Series, spatial_dims: int) -> tuple[float, ...]:
    extent = tuple(n * s for n, s in zip(series.geometry.shape, series.geometry.spacing,
                                         strict=True))
    return extent[1:] if spatial_dims == 2 else extent


def check_fit(series: Series, spec: ModelSpec) -> None:
    """Refuse a series whose body part or field of view the model does not accept.

    Args:
        series: the series to explain.
        spec: the model's spec.

    Raises:
        ModelError: Body Part Examined not in ``spec.body_parts``, or the field of
            view below ``spec.min_coverage_mm`` along an axis.

    """
    part = _body_part(series)
    if spec.body_parts and part and part not in spec.body_parts:
        raise ModelError(f"model {spec.name} accepts Body Part Examined "
                         f"{'/'.join(spec.body_parts)}, not {part} (--force to run anyway)")
    if spec.min_coverage_mm:
        need = spec.min_coverage_mm * (spec.spatial_dims if len(spec.min_coverage_mm) == 1
                                       else 1)
        have = _extent_mm(series, spec.spatial_dims)
        short = [(h, n) for h, n in zip(have, need, strict=True) if h < n]
        if short:
            shown = " x ".join(f"{h:.0f}" for h in have)
            wanted = " x ".join(f"{n:.0f}" for n in need)
            raise ModelError(f"model {spec.name} needs a field of view of at least {wanted} "
                             f"mm, the series covers {shown} mm (--force to run anyway)")


def fit_warnings(series: Series, spec: ModelSpec) -> tuple[str, ...]:
    """Warnings of the fit checks that do not refuse (no Body Part Examined)."""
    if spec.body_parts and not _body_part(series):
        return (f"the series has no Body Part Examined; model {spec.name} expects "
                f"{'/'.join(spec.body_parts)}",)
    return ()


def grid_coverage(source: Geometry, grid: Geometry) -> float:
    """Fraction of the source's voxel centres (sampled) that lie inside ``grid``.

    Args:
        source: the series' geometry.
        grid: the model input grid.

    Returns:
        A number in [0, 1]; a point is inside when each of its continuous grid
        indices lies within ``[-0.5, n - 0.5]`` (a 2D grid's slice axis is ignored).

    """
    axes = [np.linspace(0, n - 1, min(n, _LATTICE)) for n in source.shape]
    index = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    inside_index = grid.lps_to_index(source.index_to_lps(index))
    limits = np.asarray(grid.shape, dtype=float) - 0.5
    inside = (inside_index >= -0.5) & (inside_index <= limits)
    if grid.shape[0] == 1:
        inside[:, 0] = True
    return float(inside.all(axis=1).mean())


def coverage_warnings(source: Geometry, grid: Geometry) -> tuple[str, ...]:
    """A warning when the model grid holds less than :data:`MIN_GRID_COVERAGE` of the series."""
    fraction = grid_coverage(source, grid)
    if fraction >= MIN_GRID_COVERAGE:
        return ()
    return (f"the model grid covers {fraction:.0%} of the series' field of view; the map is "
            "0 outside it",)
