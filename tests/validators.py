"""The DICOM validator harness the conformance tests share (dicom3tools and dcmtk).

The tools are required: a missing tool fails the test rather than skipping it.
Allow-lists hold one ``regex  # reason`` a line; every entry must give its reason.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path


def tool(name: str) -> str:
    """The path of a required validator (Debian dicom3tools / dcmtk)."""
    path = shutil.which(name)
    assert path is not None, f"{name} is required (Debian dicom3tools / dcmtk)"
    return path


def run(*args: str | Path) -> tuple[int, str]:
    """Run a validator; return its exit status and stdout + stderr."""
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          errors="replace", timeout=60, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def dciodvfy(path: Path) -> list[str]:
    """dciodvfy's report on one file, a line each."""
    return [line.rstrip() for line in run(tool("dciodvfy"), path)[1].splitlines()]


def allowlist(path: Path) -> list[tuple[re.Pattern[str], str]]:
    """The (regex, reason) entries of an allow-list file."""
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        regex, sep, reason = line.partition("  # ")
        assert sep and reason.strip(), f"allow-list entry without a reason: {line!r}"
        entries.append((re.compile(regex), reason))
    return entries


def check_report(lines: Sequence[str], entries: Sequence[tuple[re.Pattern[str], str]],
                 iod: str, what: object = "") -> None:
    """Assert a dciodvfy report has no Error, only allow-listed Warnings, and names ``iod``."""
    assert lines, f"dciodvfy printed nothing {what}"
    assert not [line for line in lines if line.startswith("Error")], (what, lines)
    unexpected = [line for line in lines if line.startswith("Warning")
                  and not any(regex.fullmatch(line) for regex, _ in entries)]
    assert not unexpected, (what, unexpected)
    assert {line for line in lines if not line.startswith(("Error", "Warning"))} == {iod}, what


def check_all_used(lines: Sequence[str],
                   entries: Sequence[tuple[re.Pattern[str], str]]) -> None:
    """Assert every allow-list entry matches some report line (none is stale)."""
    for regex, reason in entries:
        assert any(regex.fullmatch(line) for line in lines), f"unused entry: {reason}"
