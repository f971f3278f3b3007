"""Patient data must not leave the service through logs, error texts or metrics.

Two complementary defences:

* :class:`PhiRegistry` remembers identifying values (patient name, ID, birth date,
  accession number, ...) of every instance the service reads, and :meth:`scrub`
  replaces them in any text;
* :func:`scrub_patterns` removes values that libraries quote in their messages
  (``Invalid value for VR DA: '19701345'``, data element dumps) even when the value
  was never registered.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable

from pydicom.dataset import Dataset

__all__ = ["PHI_KEYWORDS", "REDACTED", "PhiRegistry", "phi_values", "scrub_patterns"]

REDACTED = "<redacted>"
#: Attributes whose values identify a patient or a visit.
PHI_KEYWORDS: tuple[str, ...] = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "AccessionNumber",
    "OtherPatientIDs", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName",
    "PatientAddress", "PatientTelephoneNumbers", "IssuerOfPatientID", "MedicalRecordLocator",
    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName",
    "RequestingPhysician", "PatientComments", "StudyID", "InstitutionName",
)
#: Shortest value (or name component) that is redacted on its own; shorter ones are too
#: common to replace without destroying the message ("M", "CT").
MIN_REDACT_LENGTH = 3

_VR_VALUE = re.compile(r"(VR [A-Z]{2}: )(['\"]).*?\2")
_ELEMENT_DUMP = re.compile(r"(\([0-9A-Fa-f]{4}, ?[0-9A-Fa-f]{4}\)[^\n]*?\b[A-Z]{2}[:=]\s?)[^\n]*")
_VALUE_QUOTE = re.compile(r"((?:value|Value)s? (?:of |for )?[^'\"\n]{0,40}?)(['\"])[^'\"\n]*\2")


def scrub_patterns(text: str) -> str:
    """Remove values quoted by pydicom/pynetdicom messages and data element dumps."""
    text = _VR_VALUE.sub(rf"\1\2{REDACTED}\2", text)
    text = _ELEMENT_DUMP.sub(rf"\1{REDACTED}", text)
    return _VALUE_QUOTE.sub(rf"\1\2{REDACTED}\2", text)


def _raw_strings(ds: Dataset, keyword: str) -> list[str]:
    """Values of ``keyword`` as text, read without pydicom's value conversion/validation."""
    elem = ds.get_item(keyword)
    if elem is None:
        return []
    value = elem.value
    if isinstance(value, bytes):
        texts = {value.decode("latin-1"), value.decode("utf-8", errors="replace")}
        return [part for text in texts for part in text.split("\\")]
    if isinstance(value, str | int | float):
        return [str(value)]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    return [str(value)]


def phi_values(ds: Dataset) -> set[str]:
    """Collect the identifying strings of a dataset: whole values and their name components."""
    found: set[str] = set()
    for keyword in PHI_KEYWORDS:
        if keyword not in ds:
            continue
        for value in _raw_strings(ds, keyword):
            value = value.strip().strip("\x00")
            if not value:
                continue
            found.add(value)
            found.update(p.strip() for p in re.split(r"[\^=\\]", value))
    return {v for v in found if len(v) >= MIN_REDACT_LENGTH}


class PhiRegistry:
    """A bounded, thread-safe set of identifying strings to remove from any text.

    Args:
        capacity: the most values kept (least recently added are forgotten first).

    """

    def __init__(self, capacity: int = 20_000) -> None:
        self._capacity = capacity
        self._values: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str]) -> None:
        """Remember ``values`` (strings shorter than 3 characters are ignored)."""
        with self._lock:
            changed = False
            for v in values:
                if len(v) < MIN_REDACT_LENGTH:
                    continue
                if v not in self._values:
                    changed = True
                self._values[v] = None
                self._values.move_to_end(v)
            while len(self._values) > self._capacity:
                self._values.popitem(last=False)
            if changed:
                self._pattern = None

    def add_dataset(self, ds: Dataset) -> None:
        """Remember the identifying values of ``ds``."""
        self.add(phi_values(ds))

    def __len__(self) -> int:
        return len(self._values)

    def scrub(self, text: str) -> str:
        """``text`` with every remembered value and every quoted library value redacted."""
        with self._lock:
            if self._pattern is None and self._values:
                alternatives = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in alternatives),
                                           re.IGNORECASE)
            pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        return scrub_patterns(text)
