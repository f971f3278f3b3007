r"""In-plane pixel spacing of a projection image (DX, CR, MG, XA, ...).

A single frame without Image Position/Orientation (Patient) has no patient grid;
its in-plane spacing (mm between row centres, between column centres) comes from,
in this order (DICOM PS3.3 C.7.6.2.1.1 and C.8.11.7, Imager Pixel Spacing):

1. Pixel Spacing (0028,0030): spacing in the patient, already corrected;
2. Imager Pixel Spacing (0018,1164) divided by Estimated Radiographic Magnification
   Factor (0018,1114): the detector-plane spacing brought to the patient plane; without
   that factor the detector-plane spacing is used and a warning says so;
3. ``assume_pixel_spacing`` (``--assume-pixel-spacing MM``), with a warning;
4. otherwise a radiograph (Modality in :data:`RADIOGRAPHIC_MODALITIES`) is refused
   (``missing_pixel_spacing``): no size is guessed for an image whose size matters
   to a model; any other image (SC, OT, US, ...) gets 1.0 mm, with a warning.

A value of ``0\0`` (some CR and scanned-film objects write it for "unknown") counts
as absent, with a warning; any other zero, negative or non-finite value is refused
(``bad_pixel_spacing``).
"""

from __future__ import annotations

import math

from pydicom.dataset import Dataset

from medcam.errors import NotAVolumeError
from medcam.series._pydicom import BadValueError, get_float, get_floats

__all__ = ["RADIOGRAPHIC_MODALITIES", "projection_spacing"]

#: Modalities whose images are refused without a declared or assumed pixel spacing.
RADIOGRAPHIC_MODALITIES = frozenset({"DX", "CR", "MG", "IO", "PX", "RF", "XA", "RG", "DF"})


def _spacing(ds: Dataset, keyword: str, notes: list[str]) -> tuple[float, float] | None:
    try:
        values = get_floats(ds, keyword, 2)
    except BadValueError as exc:
        raise NotAVolumeError("bad_pixel_spacing",
                              f"{keyword} is malformed (needs 2 numbers)") from exc
    if values is None:
        return None
    if values == (0.0, 0.0):
        notes.append(f"{keyword} is 0\\0 (unknown) and was ignored")
        return None
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise NotAVolumeError("bad_pixel_spacing",
                              f"{keyword} must be two positive finite numbers")
    return values[0], values[1]


def projection_spacing(ds: Dataset, assume_pixel_spacing: float | None = None
                       ) -> tuple[tuple[float, float], tuple[str, ...]]:
    """Return the in-plane spacing of a projection image and what was assumed.

    Args:
        ds: the image's header.
        assume_pixel_spacing: spacing (mm) to use when the header declares none.

    Returns:
        ``((row spacing, column spacing), warnings)``.

    Raises:
        NotAVolumeError: ``bad_pixel_spacing`` (malformed value) or
            ``missing_pixel_spacing`` (none usable and nothing assumed).

    """
    notes: list[str] = []
    spacing = _spacing(ds, "PixelSpacing", notes)
    if spacing is not None:
        return spacing, tuple(notes)
    imager = _spacing(ds, "ImagerPixelSpacing", notes)
    if imager is not None:
        factor = get_float(ds, "EstimatedRadiographicMagnificationFactor")
        if factor is not None and factor > 0:
            return (imager[0] / factor, imager[1] / factor), tuple(notes)
        notes.append("Imager Pixel Spacing used without magnification correction (no "
                     "Estimated Radiographic Magnification Factor): sizes are at the detector")
        return imager, tuple(notes)
    if assume_pixel_spacing is not None:
        if not (math.isfinite(assume_pixel_spacing) and assume_pixel_spacing > 0):
            raise ValueError("assume_pixel_spacing must be a positive number of mm")
        notes.append(f"the image declares no pixel spacing; {assume_pixel_spacing:g} mm "
                     "was assumed (--assume-pixel-spacing)")
        return (assume_pixel_spacing, assume_pixel_spacing), tuple(notes)
    if str(ds.get("Modality", "") or "").strip().upper() not in RADIOGRAPHIC_MODALITIES:
        notes.append("the image declares no pixel spacing; 1.0 mm was assumed")
        return (1.0, 1.0), tuple(notes)
    raise NotAVolumeError(
        "missing_pixel_spacing",
        "the image has no usable Pixel Spacing or Imager Pixel Spacing (0\\0 counts as "
        "absent); give --assume-pixel-spacing MM to explain it with an assumed size")
