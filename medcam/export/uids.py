"""Deterministic DICOM UIDs for exported objects.

A UID is derived from the identity of what it names, so that exporting the same
explanation twice (same source series, model, method and target class) yields the
same Series and SOP Instance UIDs: a re-send to a PACS replaces the earlier objects
instead of duplicating them, while any change of model, method or target yields new
UIDs. UIDs use the ``2.25`` root (PS3.5 B.2): the decimal value of a UUID.
"""

from __future__ import annotations

import re
import uuid

__all__ = ["MEDCAM_NAMESPACE", "UID_SEPARATOR", "derive_uid", "is_valid_uid", "safe_folder_name"]

#: Fixed UUID namespace of medcam's name-based (version 5) UUIDs. Never change it:
#: doing so would change every UID medcam has ever exported.
MEDCAM_NAMESPACE = uuid.UUID("8a3c0f4e-6b1d-5f0a-9e27-4d6c1b2a9f53")
#: Separator between the parts hashed into a UID (a control character, so that
#: ``("a", "bc")`` and ``("ab", "c")`` differ).
UID_SEPARATOR = "\x1f"

_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def derive_uid(*parts: str) -> str:
    r"""Return a ``2.25`` UID determined by ``parts``.

    Args:
        *parts: the identity of the named object, e.g. a role (``"series"``),
            source UIDs and the model digest. At least one part; none may hold
            the separator ``\x1f``.

    Returns:
        ``"2.25.<decimal of uuid5(MEDCAM_NAMESPACE, "\x1f".join(parts))>"``, at most
        44 characters.

    Raises:
        ValueError: if no part is given, a part is not a string or holds ``\x1f``.

    """
    if not parts:
        raise ValueError("derive_uid needs at least one part")
    for part in parts:
        if not isinstance(part, str):
            raise ValueError(f"UID parts must be str, got {type(part).__name__}")
        if UID_SEPARATOR in part:
            raise ValueError("UID parts must not contain the separator \\x1f")
    return f"2.25.{uuid.uuid5(MEDCAM_NAMESPACE, UID_SEPARATOR.join(parts)).int}"


def is_valid_uid(uid: str) -> bool:
    """Whether ``uid`` is a syntactically valid DICOM UID (PS3.5 9.1).

    Args:
        uid: the candidate UID.

    Returns:
        True for at most 64 characters of dot-separated decimal components
        without leading zeros.

    """
    return 0 < len(uid) <= 64 and _UID_RE.match(uid) is not None


def safe_folder_name(uid: str) -> str:
    """A folder name for a UID: the UID itself when valid, else a UID derived from it.

    Args:
        uid: a UID read from the input (may be empty or malformed).

    Returns:
        A name made of digits and dots only (never ``..`` or a path separator):
        ``uid`` when :func:`is_valid_uid`, else ``derive_uid("folder", uid)``.

    """
    return uid if is_valid_uid(uid) else derive_uid("folder", uid)
