"""Read DICOM image series into volumes in LPS patient space.

``find_series`` lists the image series under folders and files (headers only);
``read_series`` reads one of them into a :class:`~medcam.series.types.Series`.
SimpleITK conversion lives in :mod:`medcam.series.sitk`, imported on demand.
"""

from __future__ import annotations

from medcam.series.read import read_series
from medcam.series.scan import SeriesRef, find_series
from medcam.series.types import Series

__all__ = ["Series", "SeriesRef", "find_series", "read_series"]
