"""How much guessing an API token resists: a conservative entropy estimate in bits.

A token chosen by a person (``aaaaaaaaaaaaaaaa``, ``abcabcabcabcabca``,
``0123456789abcdef``, ``secretsecret1234``) is long enough for a length rule but
guessable. The estimate charges each character ``log2`` of the pool its character
classes span (lower case 26, upper case 26, digits 10, other printable 33) and
only **one bit** for a character that is predictable from what came before:

* it continues a run with a constant small step (``aaa``, ``abc``, ``975``) or
  repeats the step of two characters back (``ababab``, ``aabbcc``), steps of at
  most 2 code points;
* the three characters ending at it already appeared earlier (a repeated
  pattern: ``q8Zq8Zq8Z``, ``secretsecret``).

Random tokens lose almost nothing: 16 random hex digits estimate about 80 bits,
``secrets.token_urlsafe(32)`` about 250. The service refuses fewer than
:data:`MIN_TOKEN_BITS`.
"""

from __future__ import annotations

import math
import string

__all__ = ["MIN_TOKEN_BITS", "estimate_bits"]

#: Fewest estimated bits an API token must carry.
MIN_TOKEN_BITS = 64.0
_CLASSES = ((set(string.ascii_lowercase), 26), (set(string.ascii_uppercase), 26),
            (set(string.digits), 10))
_OTHER = 33
_MAX_STEP = 2


def _pool(token: str) -> int:
    used = set(token)
    pool = sum(size for chars, size in _CLASSES if used & chars)
    if used - set().union(*(chars for chars, _ in _CLASSES)):
        pool += _OTHER
    return max(pool, 2)


def _predictable(token: str, i: int) -> bool:
    if i >= 3 and token[i - 2:i + 1] in token[:i]:
        return True
    if i < 2:
        return False
    step = ord(token[i]) - ord(token[i - 1])
    if abs(step) > _MAX_STEP:
        return False
    if step == ord(token[i - 1]) - ord(token[i - 2]):
        return True
    return i >= 3 and step == ord(token[i - 2]) - ord(token[i - 3])


def estimate_bits(token: str) -> float:
    """A conservative estimate of the guessing entropy of ``token``, in bits."""
    per_char = math.log2(_pool(token))
    return sum(1.0 if _predictable(token, i) else per_char for i in range(len(token)))
