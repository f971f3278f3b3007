"""Key Object Selection of the hottest source slices (PS3.3 A.35.4, TID 2010).

The ``k`` source slices with the highest per-slice maximum of the map (ties keep
slice order) are listed under the title DCM 113000 "Of Interest" (CID 7010), with
the medcam device as observer (TID 1004) and the description "Slices with the
highest class activation (medcam, not for diagnosis)"; the given result-set
objects (e.g. the Parametric Map and the SR) are referenced too. Key slices of a
multi-frame source are named by Referenced Frame Number in its one IMAGE item.
Identity, dates and patient context as in :mod:`medcam.export._resultset`.
"""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd
import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from medcam.errors import ExportError
from medcam.export._resultset import (
    check_values,
    finalize,
    for_highdicom,
    identity,
    object_uids,
    series_number,
)
from medcam.export.codes import OF_INTEREST
from medcam.export.types import HeatmapInfo
from medcam.export.uids import derive_uid
from medcam.series.types import Series

__all__ = ["DESCRIPTION", "build_key_objects", "hottest_slices"]

DESCRIPTION = "Slices with the highest class activation (medcam, not for diagnosis)"


def hottest_slices(values: NDArray[np.floating], k: int) -> list[int]:
    """Indices of the ``k`` slices with the highest maximum, hottest first.

    Args:
        values: the map, (slices, rows, columns).
        k: how many (at most the number of slices).

    Returns:
        Slice indices; equal maxima keep slice order.

    """
    peaks = np.asarray(values).reshape(len(values), -1).max(axis=1)
    return [int(q) for q in np.argsort(-peaks, kind="stable")[:k]]


def build_key_objects(series: Series, values: NDArray[np.floating], info: HeatmapInfo, *,
                      k: int = 3, references: Sequence[Dataset] = ()
                      ) -> hd.ko.KeyObjectSelectionDocument:
    """Build the KOS of the ``k`` hottest slices (and the given result objects).

    Args:
        series: the source series.
        values: the map in scale units, shaped like ``series.array``.
        info: model, method, class and scale.
        k: number of key slices (>= 1; fewer if the series has fewer slices).
        references: more objects to list, e.g. the Parametric Map and the SR.

    Returns:
        The Key Object Selection Document.

    Raises:
        ExportError: on an invalid map or ``k``, or when highdicom rejects the
            content.

    """
    heat = check_values(series, values)
    if k < 1:
        raise ExportError("KOS needs k >= 1 key slices")
    picks = hottest_slices(heat, k)
    keys = [for_highdicom(h) for h in
            {series.sop_instance_uids[q]: series.headers[q] for q in picks}.values()]
    objects = keys + list(references)
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=derive_uid("device", *identity(series, info)), name="medcam",
        manufacturer_name="medcam", model_name=info.model_name[:64])
    series_uid, sop_uid = object_uids(series, info, "ko")
    try:
        content = hd.ko.KeyObjectSelection(
            document_title=OF_INTEREST, referenced_objects=objects,
            observer_device_context=hd.sr.ObserverContext(
                observer_type=codes.DCM.Device, observer_identifying_attributes=device),
            description=DESCRIPTION)
        ko = hd.ko.KeyObjectSelectionDocument(
            evidence=objects, content=content, series_instance_uid=series_uid,
            series_number=series_number(series.headers[0], "ko"), sop_instance_uid=sop_uid,
            instance_number=1, manufacturer="medcam")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ExportError(f"KOS export failed ({type(exc).__name__})") from exc
    _add_frames(ko, series, picks)
    finalize(ko, series, info, "ko")
    return ko


def _add_frames(ko: Dataset, series: Series, picks: list[int]) -> None:
    """Name the key frames in the IMAGE items of multi-frame sources (TID 2010)."""
    frames: dict[str, list[int]] = {}
    for q in picks:
        if (n := series.frame_numbers[q]) is not None:
            frames.setdefault(series.sop_instance_uids[q], []).append(int(n))
    for item in ko.ContentSequence:
        for ref in item.get("ReferencedSOPSequence", ()):
            if ref.ReferencedSOPInstanceUID in frames:
                ref.ReferencedFrameNumber = sorted(frames[ref.ReferencedSOPInstanceUID])
