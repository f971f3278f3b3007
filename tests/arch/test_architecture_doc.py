"""ARCHITECTURE.md cannot rot: every module path and dotted module it names exists.

Paths are the backticked ``medcam/...``, ``service/...`` and ``tests/...`` names;
dotted names are backticked ``medcam.x.y`` (an ``:attr`` suffix names an attribute,
which must exist too). The package map lists every subpackage of ``medcam``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
CODE = re.findall(r"`([^`\n]+)`", DOC)
PATHS = sorted({c for c in CODE if re.fullmatch(r"(medcam|service|tests)(/[\w.]+)+/?", c)})
DOTTED = sorted({c for c in CODE if re.fullmatch(r"medcam(\.\w+)+(:\w+)?", c)})


def test_the_doc_names_enough_to_be_checked():
    assert len(PATHS) > 40
    assert DOTTED


def test_every_named_path_exists():
    missing = [p for p in PATHS if not (ROOT / p).exists()]
    assert missing == []


def test_every_dotted_module_exists():
    missing = []
    for name in DOTTED:
        module, _, attr = name.partition(":")
        parts = module.split(".")
        if not ((ROOT.joinpath(*parts).with_suffix(".py")).is_file()
                or (ROOT.joinpath(*parts) / "__init__.py").is_file()):
            missing.append(name)
        elif attr and not hasattr(importlib.import_module(module), attr):
            missing.append(name)
    assert missing == []


def test_every_library_subpackage_is_in_the_package_map():
    packages = sorted(p.parent.name for p in (ROOT / "medcam").glob("*/__init__.py"))
    assert packages
    absent = [p for p in packages if f"`medcam/{p}/`" not in DOC]
    assert absent == []
