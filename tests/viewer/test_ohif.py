"""A radiologist's view: medcam's outputs in a real OHIF Viewer 3.x over Orthanc's DICOMweb.

The real CLI explains the sample nodule CT; the source series, medcam's output series and a
SEG of a sphere at the planted nodule (medcam's own SEG writer) are STOW-RSed to a real
Orthanc; OHIF (prebuilt ``@ohif/app``) runs in Debian's headless Chromium on one loopback
origin. The tests read the study browser and the viewport from the DOM and OHIF's services,
count overlay pixels in viewport screenshots, and fail on any console or page error.
Screenshots go to ``out/ohif/`` (``MEDCAM_OHIF_SCREENSHOTS`` overrides); with
``MEDCAM_UPDATE_DOCS=1`` the screenshots of the SEG overlay, medcam's PM fusion and medcam's
SEG also replace docs/ohif-ct-overlay.png, docs/ohif-ct-pm.png and docs/ohif-ct-medcam-seg.png.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.uid import generate_uid

from medcam.audit.segwrite import write_ground_truth
from medcam.export.seg import DISPLAY_RGB
from tests.service.orthanc import Orthanc
from tests.viewer.ohif import ViewerPage, chromium, require_viewer, viewer_page, wait_until
from tests.viewer.server import Server, ohif_server, stow

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "sample_dicoms" / "ct" / "nodule"
SPHERE_RADIUS_MM = 12.0
SEG_DESCRIPTION = "Synthetic ground truth"  # what medcam's SEG writer names the series
PM16_DESCRIPTION = "medcam PM 16-bit JPEG-LS (--no-pm-float)"
PM_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.30"
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
#: Series OHIF lists but that need no pixel check here (text documents).
NOT_LISTED_CHECK = {"KO", "SR"}


@dataclass(frozen=True)
class Series:
    """One series pushed to Orthanc, as the files describe it."""

    uid: str
    description: str
    modality: str
    sop_class: str
    files: tuple[Path, ...]

    @property
    def ohif_modality(self) -> str:
        """The modality label OHIF's study browser shows (a PM is labelled PMAP)."""
        return "PMAP" if self.sop_class == PM_SOP_CLASS else self.modality


@dataclass(frozen=True)
class ResultSet:
    """The study pushed to the test Orthanc."""

    study_uid: str
    source: Series
    outputs: tuple[Series, ...]   # what `medcam explain` wrote
    seg: Series                   # the sphere SEG of this test
    pm16: Series                  # medcam's 16-bit JPEG-LS PM (--no-pm-float), renamed
    centre_sop_uid: str           # the source slice nearest the sphere centre


def _series_of(files: list[Path]) -> list[Series]:
    groups: dict[str, list[Path]] = {}
    headers: dict[str, Any] = {}
    for f in files:
        ds = dcmread(f, stop_before_pixels=True)
        groups.setdefault(ds.SeriesInstanceUID, []).append(f)
        headers[ds.SeriesInstanceUID] = ds
    return [Series(uid, str(headers[uid].get("SeriesDescription", "")),
                   str(headers[uid].Modality), str(headers[uid].SOPClassUID), tuple(paths))
            for uid, paths in groups.items()]


def _sphere(sources: list[Path], centre: np.ndarray, radius_mm: float) -> np.ndarray:
    """A boolean mask on the source grid: voxels within ``radius_mm`` of ``centre`` (LPS)."""
    masks = []
    for path in sources:
        ds = dcmread(path, stop_before_pixels=True)
        iop = np.asarray(ds.ImageOrientationPatient, float)
        ipp = np.asarray(ds.ImagePositionPatient, float)
        row_mm, col_mm = (float(x) for x in ds.PixelSpacing)
        rr, cc = np.mgrid[0:int(ds.Rows), 0:int(ds.Columns)]
        points = (ipp + cc[..., None] * col_mm * iop[:3] + rr[..., None] * row_mm * iop[3:])
        masks.append(np.linalg.norm(points - centre, axis=-1) <= radius_mm)
    return np.stack(masks)


@pytest.fixture(scope="module")
def result_set(tmp_path_factory: pytest.TempPathFactory) -> ResultSet:
    require_viewer()
    tmp = tmp_path_factory.mktemp("ohif-results")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "medcam", "explain", str(SOURCE), "--out",
                    str(tmp / "explain"), "--model", "demo-ct3d", "--method", "gradcam",
                    "--quiet"], check=True, cwd=REPO, env=env, timeout=300)
    outputs = _series_of(sorted((tmp / "explain").rglob("*.dcm")))
    subprocess.run([sys.executable, "-m", "medcam", "explain", str(SOURCE), "--out",
                    str(tmp / "explain16"), "--model", "demo-ct3d", "--method", "gradcam",
                    "--outputs", "pm", "--no-pm-float", "--quiet"],
                   check=True, cwd=REPO, env=env, timeout=300)
    (pm16_path,) = (tmp / "explain16").rglob("PM*.dcm")
    pm16 = dcmread(pm16_path)
    pm16.SeriesDescription = PM16_DESCRIPTION  # its own card next to the float PM's
    pm16.save_as(tmp / "pm16.dcm")
    (pm16_series,) = _series_of([tmp / "pm16.dcm"])
    sources = sorted(SOURCE.glob("*.dcm"))
    (source,) = _series_of(sources)
    manifest = json.loads((REPO / "sample_dicoms" / "manifest.json").read_text())
    centre = np.asarray(manifest["ct/nodule"]["nodule_center_lps_mm"], float)
    mask = _sphere(sources, centre, SPHERE_RADIUS_MM)
    seg_path = write_ground_truth(mask, sources, tmp / "seg" / "sphere.dcm",
                                  series_instance_uid=generate_uid(),
                                  sop_instance_uid=generate_uid(), segment_label="sphere")
    (seg,) = _series_of([seg_path])
    centre_slice = int(np.argmax(mask.sum(axis=(1, 2))))
    centre_sop = str(dcmread(sources[centre_slice], stop_before_pixels=True).SOPInstanceUID)
    study = str(dcmread(sources[0], stop_before_pixels=True).StudyInstanceUID)
    return ResultSet(study, source, tuple(outputs), seg, pm16_series, centre_sop)


@pytest.fixture(scope="module")
def viewer(result_set: ResultSet,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Any]]:
    """Orthanc holding the study, the OHIF origin in front of it, and a Chromium."""
    dist = require_viewer()
    orthanc = Orthanc(tmp_path_factory.mktemp("ohif-orthanc"))
    orthanc.start()
    try:
        files = [f for s in (result_set.source, *result_set.outputs, result_set.seg,
                             result_set.pm16) for f in s.files]
        stow(orthanc.dicomweb, files)
        with ohif_server(orthanc.url, dist) as server, chromium() as browser:
            yield server, browser
    finally:
        orthanc.stop()


@pytest.fixture
def page(viewer: tuple[Server, Any], result_set: ResultSet) -> Iterator[ViewerPage]:
    server, browser = viewer
    with viewer_page(browser, server) as vp:
        vp.open_study(result_set.study_uid)
        yield vp
        failed = [r for r in server.requests if not r.endswith((" 200", " 204"))]
        assert not failed, f"DICOMweb requests that failed: {failed[:5]}"
        assert not vp.unexpected_errors(), vp.unexpected_errors()


def _screens() -> Path:
    return Path(os.environ.get("MEDCAM_OHIF_SCREENSHOTS") or REPO / "out" / "ohif")


def _coloured(png: bytes) -> int:
    """Pixels whose red exceeds green and blue by 40 (greyscale CT has none)."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int(((rgb[..., 0] - np.maximum(rgb[..., 1], rgb[..., 2])) > 40).sum())


def _card(page: ViewerPage, series: Series) -> None:
    cards = page.series_list()
    match = [c for c in cards if c.description == series.description]
    assert match, f"OHIF does not list {series.description!r}: {cards}"
    assert (match[0].modality, match[0].instances) == (series.ohif_modality, len(series.files))


def test_study_browser_lists_source_medcam_outputs_and_seg(page: ViewerPage,
                                                            result_set: ResultSet) -> None:
    assert any(s.sop_class == "1.2.840.10008.5.1.4.1.1.7" for s in result_set.outputs)
    for series in (result_set.source, result_set.seg, *result_set.outputs):
        if series.modality not in NOT_LISTED_CHECK:
            _card(page, series)
    assert result_set.source.description in page.viewport_description()
    page.screenshot(_screens() / "study-browser.png")


def test_secondary_capture_heatmap_renders(page: ViewerPage, result_set: ResultSet) -> None:
    (sc,) = [s for s in result_set.outputs if s.sop_class == "1.2.840.10008.5.1.4.1.1.7"]
    assert _coloured(page.viewport_png()) == 0  # the source CT is greyscale
    page.open_series(sc.description)
    assert sc.description in page.viewport_description()
    page.page.wait_for_timeout(1500)
    assert _coloured(page.viewport_png()) > 1000  # the burned-in colour map
    page.screenshot(_screens() / "ct-sc-heatmap.png")


def test_seg_overlay_on_ct(page: ViewerPage, result_set: ResultSet) -> None:
    page.jump_to_instance(result_set.centre_sop_uid)
    assert _coloured(page.viewport_png()) == 0
    state = page.open_overlay(result_set.seg.description)
    assert [(g["label"], g["segments"]) for g in state["segmentations"]] == [
        (SEG_DESCRIPTION, ["sphere"])]
    (vp,) = [v for v in state["viewports"] if v["representations"]]
    shown = [d for d in state["displaySets"] if d["uid"] in vp["displaySets"]]
    assert [d["description"] for d in shown] == [result_set.source.description]
    assert vp["representations"][0]["type"] == "Labelmap"
    page.jump_to_instance(result_set.centre_sop_uid)
    assert _coloured(page.viewport_png()) > 300  # the sphere, filled, on the CT
    assert result_set.source.description in page.viewport_description()
    # The sphere SEG (medcam.audit.segwrite) has no Recommended Display CIELab Value:
    # OHIF says so, unlike for medcam's SEG (test_medcam_seg_overlays_in_its_colour).
    assert [t.splitlines()[0] for t in page.toasts()] == ["DICOM SEG import"], page.toasts()
    assert "RecommendedDisplayCIELabValue not found" in page.toasts()[0]
    shot = page.screenshot(_screens() / "ct-seg-overlay.png")
    if os.environ.get("MEDCAM_UPDATE_DOCS") == "1":
        shutil.copyfile(shot, REPO / "docs" / "ohif-ct-overlay.png")


def _chromatic(png: bytes) -> int:
    """Pixels whose channels differ by more than 20 (any colour; greyscale CT has none)."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((rgb.max(axis=-1) - rgb.min(axis=-1) > 20).sum())


def _output(result_set: ResultSet, sop_class: str) -> Series:
    (series,) = [s for s in result_set.outputs if s.sop_class == sop_class]
    return series


def test_medcam_pm_fuses_on_ct_in_scale_units(page: ViewerPage, result_set: ResultSet) -> None:
    """medcam's default PM (float32 scale values) opens fused on its CT, values intact.

    OHIF's PMAP loader reads Float Pixel Data as is (it ignores the Real World Value
    Mapping and logs an error for 16-bit maps) and multiplies by 100 for display.
    """
    pm_series = _output(result_set, PM_SOP_CLASS)
    pm = dcmread(pm_series.files[0])
    assert pm.BitsAllocated == 32 and "FloatPixelData" in pm
    before = _chromatic(page.viewport_png())  # OHIF's blue overlay text and frame
    state = page.open_overlay(pm_series.description)
    (target,) = [d for d in state["displaySets"] if d["description"] == pm_series.description]
    assert target["modality"] == "PMAP" and target["loaded"]
    (vp,) = [v for v in state["viewports"] if target["uid"] in v["displaySets"]]
    assert vp["actors"] == 2  # the CT volume and the fused map
    assert result_set.source.description in page.viewport_description()
    top = float(np.asarray(pm.pixel_array).max())
    assert 0.1 < top
    assert page.volume_max(target["uid"]) == pytest.approx(100 * top, rel=1e-5)
    page.page.wait_for_timeout(1500)
    assert _chromatic(page.viewport_png()) > before + 20000  # the fused map's tint
    # OHIF's one notification on every PM: its own x100, no warning about the object.
    assert [t.splitlines()[0] for t in page.toasts()] == ["Parametric Map"], page.toasts()
    assert "multiplied by 100" in page.toasts()[0]
    shot = page.screenshot(_screens() / "ct-pm-fusion.png")
    if os.environ.get("MEDCAM_UPDATE_DOCS") == "1":
        shutil.copyfile(shot, REPO / "docs" / "ohif-ct-pm.png")


def test_medcam_seg_overlays_in_its_colour(page: ViewerPage, result_set: ResultSet) -> None:
    """medcam's SEG hydrates on the CT, lists its segment, in the recommended colour."""
    seg_series = _output(result_set, SEG_SOP_CLASS)
    segment = dcmread(seg_series.files[0]).SegmentSequence[0]
    label = str(segment.SegmentLabel)
    assert len(segment.RecommendedDisplayCIELabValue) == 3
    state = page.open_overlay(seg_series.description)
    assert [g["segments"] for g in state["segmentations"]] == [[label]]
    (vp,) = [v for v in state["viewports"] if v["representations"]]
    assert vp["representations"][0]["type"] == "Labelmap"
    page.show_segment_label(label)
    colour = page.page.evaluate("""() => {
      const s = window.services.segmentationService; const g = s.getSegmentations()[0];
      const v = [...window.services.viewportGridService.getState().viewports.keys()][0];
      return s.getSegmentColor(v, g.segmentationId, 1); }""")
    assert [int(c) for c in colour[:3]] == list(DISPLAY_RGB)
    assert not page.toasts(), page.toasts()
    shot = page.screenshot(_screens() / "ct-medcam-seg.png")
    if os.environ.get("MEDCAM_UPDATE_DOCS") == "1":
        shutil.copyfile(shot, REPO / "docs" / "ohif-ct-medcam-seg.png")


def test_16_bit_pm_is_what_ohif_refuses(page: ViewerPage, result_set: ResultSet) -> None:
    """Why float32 is the default: OHIF 3.13 logs an error on medcam's 16-bit map, and
    its PMAP loader takes the JPEG-LS bytes for pixels (no decoding, no RWVM)."""
    pm = dcmread(result_set.pm16.files[0])
    assert pm.BitsAllocated == 16 and pm.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"
    page._thumbnail(PM16_DESCRIPTION).dblclick()
    refusal = "Only works with 32 bit data, not 16"

    def refused() -> bool:
        page.page.wait_for_timeout(250)  # lets Playwright deliver console events
        return any(refusal in e for e in page.console_errors)

    wait_until(refused, 60, "OHIF's refusal of the 16-bit Parametric Map")
    target = wait_until(lambda: next((d for d in page.state()["displaySets"]
                                      if d["description"] == PM16_DESCRIPTION
                                      and d["loaded"]), None), 60, "the 16-bit PM loaded")
    stored_top = float(np.asarray(pm.pixel_array).max())
    assert page.volume_max(target["uid"]) != pytest.approx(100 * stored_top, rel=0.01)
    page.console_errors[:] = [e for e in page.console_errors if refusal not in e]
