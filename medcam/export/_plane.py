"""Image-plane attributes of a Secondary Capture frame derived from a source slice."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.valuerep import format_number_as_ds

from medcam.series.types import Series

__all__ = ["add_geometry"]


def _ds(value: float) -> str:
    return format_number_as_ds(float(value))


def _orientation_letters(vector: NDArray[np.float64]) -> str:
    """PatientOrientation letters of a direction (PS3.3 C.7.6.1.1.1), major first."""
    letters = []
    for axis in np.argsort(-np.abs(vector), kind="stable"):
        if abs(vector[axis]) > 1e-3:
            letters.append(("RL", "AP", "FH")[axis][int(vector[axis] > 0)])
    return "".join(letters)


def _projection_spacing(header: Dataset) -> list[float]:
    """Pixel Spacing of a projection source, in mm (row, column); ``[]`` if unknown.

    The source's Pixel Spacing (calibrated in the patient) when valid, else Imager
    Pixel Spacing (at the detector, DX/CR/MG) divided by the Estimated Radiographic
    Magnification Factor when one is given (PS3.3 C.8.11.7, 10.7.1.1).
    """
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        try:
            spacing = [float(v) for v in header.get(keyword) or ()]
        except (TypeError, ValueError):
            spacing = []  # a malformed optional attribute is dropped, not fatal
        if len(spacing) == 2 and all(math.isfinite(v) and v > 0 for v in spacing):
            if keyword == "ImagerPixelSpacing":
                try:
                    magnification = float(header.get("EstimatedRadiographicMagnificationFactor")
                                           or 1.0)
                except (TypeError, ValueError):
                    magnification = 1.0
                if math.isfinite(magnification) and magnification >= 1.0:
                    spacing = [v / magnification for v in spacing]
            return spacing
    return []


def add_geometry(ds: Dataset, series: Series, k: int, factor: int, banner: int) -> None:
    """Pixel Spacing, Patient Orientation and (for 3-D sources) the image plane.

    The plane's origin is the canvas' first pixel, ``banner`` rows above the image,
    so every image pixel keeps its patient position and the bands lie beside it.
    """
    header = series.headers[k]
    if series.has_patient_geometry:
        geo = series.geometry
        shift = -0.5 + 0.5 / factor  # centre of the first enlarged pixel, in source pixels
        first = (k, shift - banner / factor, shift)
        ds.ImagePositionPatient = [_ds(v) for v in geo.index_to_lps(first)]
        row_dir, col_dir = geo.direction_matrix[:, 2], geo.direction_matrix[:, 1]
        ds.ImageOrientationPatient = [_ds(v) for v in (*row_dir, *col_dir)]
        ds.PixelSpacing = [_ds(geo.spacing[1] / factor), _ds(geo.spacing[2] / factor)]
        ds.PatientOrientation = [_orientation_letters(row_dir), _orientation_letters(col_dir)]
        for_uid = geo.frame_of_reference_uid or header.get("FrameOfReferenceUID")
        if for_uid:
            ds.FrameOfReferenceUID = for_uid
        if header.get("SliceLocation") is not None and series.frame_numbers[k] is None:
            ds.SliceLocation = header.SliceLocation
        return
    spacing = _projection_spacing(header)
    if spacing:
        ds.PixelSpacing = [_ds(v / factor) for v in spacing]
    orientation = header.get("PatientOrientation")
    ds.PatientOrientation = list(orientation) if orientation and len(orientation) == 2 else None


