"""What the plan needs from each file's header, cached between runs of one output folder.

Planning reads the header of every file of the archive; on an archive of millions of
files that takes longer than a resumed run should. :class:`ScanCache` keeps the few
header facts the plan uses, keyed by the sha256 of (path relative to the archive, size,
mtime in ns), in ``.medcam-batch/scan-cache.jsonl`` of the output folder: a file whose
key is known is not opened again. The cache holds no paths (only their digests) and no
patient data (UIDs, modality, SOP class), and a damaged cache is simply rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from medcam.batch.units import json_line
from medcam.durable import write_file_atomic
from medcam.series.headers import InstanceHeader, iter_headers, non_image_reason

__all__ = ["MEDCAM_OUTPUT_CLASSES", "SECONDARY_CAPTURE", "HeaderFacts", "ScanCache",
           "is_medcam_output"]

_LOG = logging.getLogger(__name__)
#: Part of every key: facts cached by an older medcam (which knew fewer of its own
#: output classes) are read again, never trusted.
_FACTS_VERSION = 2
#: Secondary Capture Image Storage, the SOP Class of medcam's heatmaps.
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


#: The SOP Classes of medcam's result set: SC, Parametric Map, SEG, Comprehensive 3D
#: SR and Key Object Selection (see :mod:`medcam.export.result_set`).
MEDCAM_OUTPUT_CLASSES = frozenset({SECONDARY_CAPTURE, "1.2.840.10008.5.1.4.1.1.30",
                                   "1.2.840.10008.5.1.4.1.1.66.4",
                                   "1.2.840.10008.5.1.4.1.1.88.34",
                                   "1.2.840.10008.5.1.4.1.1.88.59"})


def is_medcam_output(ds: Dataset) -> bool:
    """Whether a header is one of the objects of medcam's own result sets."""
    return (str(ds.get("SOPClassUID", "")) in MEDCAM_OUTPUT_CLASSES
            and str(ds.get("Manufacturer", "")) == "medcam")


@dataclass(frozen=True)
class HeaderFacts:
    """The header facts of one file (``outcome``: ``dicom``, ``not_dicom`` or ``corrupt``)."""

    outcome: str
    kind: str = ""
    series_instance_uid: str = ""
    study_instance_uid: str = ""
    sop_instance_uid: str = ""
    modality: str = ""
    own_output: bool = False
    non_image_reason: str = ""

    @classmethod
    def of(cls, header: InstanceHeader | None, outcome: str) -> HeaderFacts:
        """Facts of a header from :func:`medcam.series.headers.iter_headers`."""
        if header is None:
            return cls(outcome)
        ds = header.dataset
        return cls(outcome, header.kind, header.series_instance_uid,
                   str(ds.get("StudyInstanceUID", "") or ""), header.sop_instance_uid,
                   str(ds.get("Modality", "") or ""), is_medcam_output(ds),
                   non_image_reason(ds) or "")


class ScanCache:
    """Header facts by file key (see the module docstring).

    Args:
        path: the cache file; ``None`` keeps nothing between runs.

    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.n_parsed = 0
        self._old: dict[str, HeaderFacts] = {}
        self._seen: dict[str, HeaderFacts] = {}
        if path is not None and path.is_file():
            try:
                for line in path.read_text().splitlines():
                    key, facts = json.loads(line)
                    self._old[key] = HeaderFacts(**facts)
            except (OSError, ValueError, TypeError):
                _LOG.warning("the scan cache could not be read; it is rebuilt")
                self._old = {}

    def facts(self, path: Path, rel: str, stat: os.stat_result) -> HeaderFacts:
        """The facts of ``path`` (listed as ``rel``), from the cache or its header."""
        key = hashlib.sha256(f"{_FACTS_VERSION}\0{rel}\0{stat.st_size}\0{stat.st_mtime_ns}"
                             .encode()).hexdigest()
        found = self._old.get(key)
        if found is None:
            _, header, outcome = next(iter_headers([path]))
            found = HeaderFacts.of(header, outcome)
            self.n_parsed += 1
        self._seen[key] = found
        return found

    def save(self) -> None:
        """Write the facts of the files seen this time (atomically)."""
        if self.path is None:
            return
        lines = [json_line([k, asdict(f)]) for k, f in sorted(self._seen.items())]
        write_file_atomic(self.path, b"".join(lines))
