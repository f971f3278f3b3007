"""The one rule for an Application Entity title (DICOM PS3.5 Table 6.2-1, VR AE).

An AE title is 1 to 16 characters of the Default Character Repertoire without
control characters or backslash. Leading and trailing spaces are not significant
(PS3.5 6.2), so a title that starts or ends with a space is refused rather than
silently trimmed: it would name a different peer on a strict PACS.
"""

from __future__ import annotations

import re

__all__ = ["is_ae_title", "validate_ae_title"]

_AET = re.compile(r"^[\x21-\x5b\x5d-\x7e](?:[\x20-\x5b\x5d-\x7e]{0,14}[\x21-\x5b\x5d-\x7e])?$")


def is_ae_title(value: str) -> bool:
    """Whether ``value`` is a valid AE title (1-16 printable, no backslash, no edge spaces)."""
    return bool(_AET.match(value))


def validate_ae_title(value: str) -> str:
    """Return ``value`` if it is a valid AE title.

    Raises:
        ValueError: it is not (the message does not quote it).

    """
    if not is_ae_title(value):
        raise ValueError("an AE title is 1-16 printable ASCII characters, no backslash, "
                         "no leading or trailing space")
    return value
