"""A real OHIF Viewer 3.x in the tests, driven through Debian's headless Chromium.

:func:`chromium` launches ``/usr/bin/chromium`` (SwiftShader WebGL) through Playwright, never
a downloaded browser; :func:`viewer_page` opens a fresh context on a
:func:`tests.viewer.server.ohif_server` origin; :class:`ViewerPage` reads what a radiologist
sees from OHIF's DOM (``data-cy`` attributes of OHIF 3.13) and its services
(``window.services``). A missing viewer, browser or Playwright FAILS the test under CI
(``CI=true``) and skips it elsewhere with the command that installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.viewer.server import OHIF_VERSION, Server, ohif_dist

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--headless=new", "--use-gl=swiftshader", "--enable-unsafe-swiftshader",
                 "--no-sandbox", "--disable-dev-shm-usage")
#: Console errors OHIF 3.x itself emits on a healthy load (substring, reason).
ALLOWED_CONSOLE_ERRORS: tuple[tuple[str, str], ...] = ()


def require(ok: bool, why: str) -> None:
    """Fail under CI, skip elsewhere, when a viewer prerequisite is missing."""
    if ok:
        return
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{why} (CI=true: the OHIF test must run)", pytrace=False)
    pytest.skip(why)


def require_viewer() -> Path:
    """The OHIF dist, after checking that it, Chromium and Playwright are installed."""
    dist = ohif_dist()
    require((dist / "index.html").is_file(),
            f"OHIF {OHIF_VERSION} is not cached at {dist}: run scripts/fetch_ohif.sh")
    require(Path(CHROMIUM).is_file() or shutil.which("chromium") is not None,
            "Chromium is missing: apt-get install chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require(False, "Playwright is missing: pip install -e '.[dev]'")
    return dist


@dataclass(frozen=True)
class SeriesCard:
    """One series as OHIF's study browser shows it (modality, description, instance count)."""

    description: str
    modality: str
    series_number: int | None
    instances: int


THUMBNAIL = "[data-cy^='study-browser-thumbnail']"
HYDRATE_YES = "[data-cy='yes-hydrate-btn']"
VIEWPORT_TOP_LEFT = "[data-cy='viewport-overlay-top-left']"
VIEWPORT_PANE = "[data-cy='viewport-pane']"
#: OHIF's onboarding tour would cover the page; mark it as already shown.
_NO_TOURS = "localStorage.setItem('shownTours', JSON.stringify(['basicViewerTour']));"
#: Every notification (toast) OHIF shows, kept in ``window.__medcamToasts`` (they fade).
_TOASTS = """window.__medcamToasts = [];
new MutationObserver(() => {
  for (const t of document.querySelectorAll('[data-sonner-toast]')) {
    const text = t.innerText.trim();
    if (text && !window.__medcamToasts.includes(text)) { window.__medcamToasts.push(text); } }
}).observe(document, {subtree: true, childList: true, characterData: true});"""
SEGMENTATION_PANEL_BUTTON = "[data-cy='panelSegmentation-btn']"
#: What OHIF's services hold: display sets, viewports and their overlays, segmentations.
_STATE_JS = """() => { const s = window.services; if (!s) { return 'null'; }
 const vp = (v) => { const cs = s.cornerstoneViewportService.getCornerstoneViewport(v.viewportId);
   return {id: v.viewportId, displaySets: v.displaySetInstanceUIDs || [],
     actors: cs ? cs.getActors().length : 0,
     representations: s.segmentationService.getSegmentationRepresentations(v.viewportId)
       .map(r => ({segmentationId: r.segmentationId, type: r.type, visible: r.visible}))}; };
 return JSON.stringify({
  displaySets: s.displaySetService.getActiveDisplaySets().map(d => ({
    uid: d.displaySetInstanceUID, modality: d.Modality, description: d.SeriesDescription,
    seriesInstanceUID: d.SeriesInstanceUID, handler: d.SOPClassHandlerId,
    loaded: Boolean(d.isLoaded)})),
  viewports: [...s.viewportGridService.getState().viewports.values()].map(vp),
  segmentations: s.segmentationService.getSegmentations().map(g => ({id: g.segmentationId,
    label: g.label, segments: Object.values(g.segments || {}).filter(Boolean)
      .map(x => x.label)}))}); }"""


class ViewerPage:
    """One Chromium page on the viewer, with its console and page errors collected.

    Args:
        page: a Playwright ``Page``.
        base_url: the viewer origin.

    """

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))

    def _on_console(self, msg: Any) -> None:
        if msg.type == "error":
            self.console_errors.append(msg.text)

    def unexpected_errors(self) -> list[str]:
        """Page errors plus console errors not in :data:`ALLOWED_CONSOLE_ERRORS`."""
        allowed = [s for s, _ in ALLOWED_CONSOLE_ERRORS]
        return self.page_errors + [e for e in self.console_errors
                                   if not any(a in e for a in allowed)]

    def open_study(self, study_uid: str, mode: str = "viewer", timeout_s: float = 60) -> None:
        """Open ``/<mode>?StudyInstanceUIDs=...``; wait for thumbnails and a first image."""
        self.page.goto(f"{self.base_url}/{mode}?StudyInstanceUIDs={study_uid}")
        self.page.wait_for_selector(THUMBNAIL, timeout=timeout_s * 1000)
        wait_until(lambda: self.viewport_description(), timeout_s, "a series in the viewport")

    def series_list(self) -> list[SeriesCard]:
        """The study browser's series cards (text: modality, description, S:number, count)."""
        cards = []
        for element in self.page.query_selector_all(THUMBNAIL):
            lines = [x.strip() for x in element.inner_text().splitlines() if x.strip()]
            number = next((int(x[2:]) for x in lines if x.startswith("S:") and x[2:].isdigit()),
                          None)
            count = int(lines[-1]) if lines and lines[-1].isdigit() else -1
            cards.append(SeriesCard(description=lines[1] if len(lines) > 1 else "",
                                    modality=lines[0] if lines else "", series_number=number,
                                    instances=count))
        return cards

    def toasts(self) -> list[str]:
        """The text of every notification OHIF has shown on this page so far."""
        return list(self.page.evaluate("() => window.__medcamToasts || []"))

    def volume_max(self, volume_id: str) -> float:
        """The largest voxel value of a volume in Cornerstone's cache (what OHIF renders)."""
        return float(self.page.evaluate("""(id) => {
          const d = window.cornerstone.cache.getVolume(id).voxelManager
            .getCompleteScalarDataArray();
          let top = -Infinity; for (let i = 0; i < d.length; i++) { if (d[i] > top) top = d[i]; }
          return top; }""", volume_id))

    def show_segment_label(self, label: str, timeout_s: float = 30) -> None:
        """Open the right-hand Segmentation panel; wait until it lists ``label``."""
        if not self.page.get_by_text(label, exact=True).count():
            self.page.click(SEGMENTATION_PANEL_BUTTON)
        self.page.get_by_text(label, exact=True).first.wait_for(
            state="visible", timeout=timeout_s * 1000)

    def state(self) -> dict[str, Any]:
        """Display sets, viewports (display sets, actors, overlays) and segmentations."""
        return json.loads(self.page.evaluate(_STATE_JS)) or {}

    def viewport_description(self) -> str:
        """The series description the active viewport's top-left overlay shows."""
        overlay = self.page.query_selector(VIEWPORT_TOP_LEFT)
        return overlay.inner_text() if overlay is not None else ""

    def _thumbnail(self, description: str) -> Any:
        for element in self.page.query_selector_all(THUMBNAIL):
            if description in element.inner_text():
                return element
        raise AssertionError(f"no series card shows {description!r}")

    def open_series(self, description: str, timeout_s: float = 30) -> None:
        """Double-click a series card; wait until the viewport shows that display set."""
        self._thumbnail(description).dblclick()
        wait_until(lambda: self._viewport_has(description), timeout_s,
                   f"the viewport to show {description!r}")
        # The display-set state changes before the overlay text is re-rendered.
        wait_until(lambda: description in self.viewport_description(), timeout_s,
                   f"the viewport overlay to name {description!r}")

    def _viewport_has(self, description: str) -> bool:
        state = self.state()
        shown = {u for v in state.get("viewports", []) for u in v["displaySets"]}
        return any(d["uid"] in shown and d["description"] == description
                   for d in state.get("displaySets", []))

    def open_overlay(self, description: str, timeout_s: float = 60) -> dict[str, Any]:
        """Open a SEG or Parametric Map series as an overlay on its source series.

        A SEG is previewed, then hydrated with OHIF's "Do you want to open this
        Segmentation?" -> Yes; a Parametric Map opens fused on its source volume.

        Returns:
            :meth:`state` once the overlay is on a viewport.

        """
        self._thumbnail(description).dblclick()
        target = wait_until(lambda: next((d for d in self.state().get("displaySets", [])
                                          if d["description"] == description), None),
                            timeout_s, f"a display set for {description!r}")
        if target["modality"] == "SEG":
            self.page.wait_for_selector(HYDRATE_YES, timeout=timeout_s * 1000)
            self.page.click(HYDRATE_YES)
            self.page.wait_for_selector(HYDRATE_YES, state="detached",
                                        timeout=timeout_s * 1000)

            def shown() -> dict[str, Any] | None:
                state = self.state()
                reps = [r for v in state.get("viewports", []) for r in v["representations"]
                        if r["segmentationId"] == target["uid"] and r["visible"]]
                return state if reps else None
        else:
            def shown() -> dict[str, Any] | None:
                state = self.state()
                loaded = any(d["uid"] == target["uid"] and d["loaded"]
                             for d in state.get("displaySets", []))
                fused = any(target["uid"] in v["displaySets"] and v["actors"] >= 2
                            for v in state.get("viewports", []))
                return state if loaded and fused else None
        return wait_until(shown, timeout_s, f"{description!r} overlaid on a viewport")

    def jump_to_instance(self, sop_instance_uid: str) -> None:
        """Scroll the (stack) viewport to the image of this SOP Instance UID."""
        found = self.page.evaluate("""(uid) => {
          const vp = window.services.cornerstoneViewportService.getCornerstoneViewport('default');
          const index = vp.getImageIds().findIndex(id => id.includes(uid));
          if (index < 0) { return -1; }
          const jump = window.cornerstone.utilities.jumpToSlice
            || window.cornerstoneTools.utilities.jumpToSlice;
          jump(vp.element, {imageIndex: index});
          return index; }""", sop_instance_uid)
        if found < 0:
            raise AssertionError("the viewport does not hold that instance")
        self.page.wait_for_timeout(500)

    def viewport_png(self) -> bytes:
        """A PNG of the viewport pane alone."""
        return self.page.locator(VIEWPORT_PANE).first.screenshot()

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole viewer."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))
        return path


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium (SwiftShader WebGL) through Playwright; closed on exit."""
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def viewer_page(browser: Any, server: Server, width: int = 1400,
                height: int = 900) -> Iterator[ViewerPage]:
    """A fresh browser context (own storage) with one :class:`ViewerPage` on ``server``."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.add_init_script(_NO_TOURS)
    context.add_init_script(_TOASTS)
    try:
        yield ViewerPage(context.new_page(), server.url)
    finally:
        context.close()


def wait_until(predicate: Any, timeout_s: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.25)
