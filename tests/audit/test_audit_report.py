"""The HTML report opens in headless Chromium without console errors and is not blank.

Chromium is required: CI installs Debian's ``chromium``; these tests fail without it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "headless Chromium is required for the report tests (apt-get install chromium)"
    return path


def _browse(tmp_path: Path, *extra: str, page: Path) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)


def test_report_is_self_contained(audit_out):
    out, result, _ = audit_out
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4
    for needle in ("http://", "https://", "<script", "<link"):
        assert needle not in page
    for method in result["methods"]:
        assert method in page


def test_report_dom_and_console(audit_out, tmp_path):
    out, _, _ = audit_out
    proc = _browse(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom",
                   page=out / "report.html")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Methods by metric" in proc.stdout
    assert "<table>" in proc.stdout
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console


def test_report_screenshot_is_not_blank(audit_out, tmp_path):
    out, _, _ = audit_out
    shot = tmp_path / "report.png"
    proc = _browse(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000",
                   "--hide-scrollbars", page=out / "report.html")
    assert proc.returncode == 0, proc.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert image.shape[:2] == (2000, 1280)
    non_white = (image < 240).any(axis=2).mean()
    assert non_white > 0.05, non_white
    assert image.std() > 20
    shutil.copy(shot, out / "report_screenshot.png")
