from __future__ import annotations

import re

import pytest

from medcam.export.uids import derive_uid, is_valid_uid


def test_derived_uid_is_valid_and_stable():
    uid = derive_uid("sc-series", "1.2.3", "demo", "1.0")
    assert uid == derive_uid("sc-series", "1.2.3", "demo", "1.0")
    assert uid.startswith("2.25.")
    assert len(uid) <= 64
    assert is_valid_uid(uid)
    assert re.fullmatch(r"2\.25\.[1-9][0-9]*", uid)


def test_any_change_of_a_part_changes_the_uid():
    base = ("sc-series", "1.2.3", "demo", "1.0", "ab" * 32, "gradcam", "lesion")
    uids = {derive_uid(*base)}
    for i in range(len(base)):
        changed = list(base)
        changed[i] = changed[i] + "x"
        uids.add(derive_uid(*changed))
    assert len(uids) == len(base) + 1


def test_part_boundaries_matter():
    assert derive_uid("a", "bc") != derive_uid("ab", "c")


@pytest.mark.parametrize("parts", [(), ("a\x1fb",), (3,)])
def test_bad_parts_are_rejected(parts):
    with pytest.raises(ValueError):
        derive_uid(*parts)


@pytest.mark.parametrize("uid", ["", "1.02.3", "1..2", "1.2.", "a.b", "1." + "2" * 63])
def test_invalid_uids(uid):
    assert not is_valid_uid(uid)
