"""Convert between (array, :class:`~medcam.geometry.Geometry`) and ``SimpleITK.Image``.

The only module of :mod:`medcam.series` that imports SimpleITK.

Axis conventions: medcam arrays are indexed (slice, row, column); a SimpleITK
index is (x, y, z) = (column, row, slice), and ``sitk.GetImageFromArray`` already
maps a C-order (slice, row, column) array onto it. So the SimpleITK spacing is the
Geometry spacing reversed, and the SimpleITK direction matrix, whose columns are
the LPS unit vectors of the x, y, z index axes, is ``direction_matrix[:, [2, 1, 0]]``
(column, row, slice axes). Both use LPS, so no sign flip is needed; the origin is
the same point. The round trip is exact.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import SimpleITK as sitk
from numpy.typing import NDArray

from medcam.geometry import Geometry

__all__ = ["from_sitk", "to_sitk"]

_REVERSE = [2, 1, 0]


def to_sitk(array: NDArray[np.generic], geometry: Geometry) -> sitk.Image:
    """Build a SimpleITK image placed as ``geometry`` says.

    Args:
        array: values shaped (slices, rows, columns) = ``geometry.shape``.
        geometry: where the voxels lie in LPS.

    Returns:
        A 3-D scalar SimpleITK image (a copy of ``array``).

    Raises:
        ValueError: ``array`` does not have the geometry's shape.

    """
    arr = np.asarray(array)
    if arr.shape != geometry.shape:
        raise ValueError(f"`array` shape {arr.shape} differs from geometry {geometry.shape}")
    image: Any = sitk.GetImageFromArray(np.ascontiguousarray(arr), isVector=False)
    image.SetSpacing(tuple(reversed(geometry.spacing)))
    image.SetOrigin(geometry.origin)
    image.SetDirection(tuple(geometry.direction_matrix[:, _REVERSE].ravel()))
    return cast(sitk.Image, image)


def from_sitk(image: sitk.Image) -> tuple[NDArray[np.generic], Geometry]:
    """Read a 3-D scalar SimpleITK image back as (array, geometry).

    Args:
        image: a 3-D single-component image with an orthonormal direction.

    Returns:
        The (slices, rows, columns) array and its geometry (no Frame of Reference
        UID: SimpleITK images do not carry one).

    Raises:
        ValueError: the image is not 3-D, has several components per voxel, or
            its direction is not orthonormal.

    """
    img: Any = image  # SimpleITK ships no type annotations
    if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError("`image` must be a 3-D image with one component per voxel")
    array: NDArray[np.generic] = sitk.GetArrayFromImage(img)
    direction = np.asarray(img.GetDirection(), dtype=np.float64).reshape(3, 3)[:, _REVERSE]
    sx, sy, sz = (float(s) for s in img.GetSpacing())
    ox, oy, oz = (float(o) for o in img.GetOrigin())
    geometry = Geometry(
        shape=(array.shape[0], array.shape[1], array.shape[2]),
        spacing=(sz, sy, sx),
        origin=(ox, oy, oz),
        direction=tuple(direction.ravel()),
    )
    return array, geometry
