"""The viewer's origin for the tests: OHIF's prebuilt ``dist/`` plus a DICOMweb proxy.

The prebuilt viewer is the ``dist/`` folder of the npm package ``@ohif/app`` that
``scripts/fetch_ohif.sh`` caches outside the repository. :func:`ohif_server` serves it on
127.0.0.1 with an SPA fallback (unknown paths -> ``index.html``), an ``app-config.js`` that
points OHIF at ``/dicom-web`` on the same origin, and a proxy from ``/dicom-web/*`` to a real
Orthanc (tests/service/orthanc.py). Every answer carries COOP/COEP so the page is
cross-origin isolated (cornerstone3D uses SharedArrayBuffer when it may).
"""

from __future__ import annotations

import http.client
import json
import mimetypes
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx


def _pins() -> dict[str, str]:
    text = Path(__file__).with_name("ohif-version.txt").read_text()
    return dict(line.split("=", 1) for line in text.split() if "=" in line)


#: The pinned ``@ohif/app`` version (shared with scripts/fetch_ohif.sh).
OHIF_VERSION = _pins()["OHIF_VERSION"]
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-authorization", "proxy-authenticate", "content-length"}
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("font/woff2", ".woff2")


def ohif_dist() -> Path:
    """The cached ``dist/`` folder: ``$MEDCAM_OHIF_DIST`` or the default cache path."""
    env = os.environ.get("MEDCAM_OHIF_DIST")
    if env:
        return Path(env)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "medcam" / "ohif" / OHIF_VERSION / "package" / "dist"


def app_config(friendly_name: str = "medcam test Orthanc") -> str:
    """``window.config`` with one DICOMweb data source at ``/dicom-web`` on the same origin."""
    source = {
        "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
        "sourceName": "orthanc",
        "configuration": {
            "friendlyName": friendly_name, "name": "orthanc",
            "wadoUriRoot": "/dicom-web", "qidoRoot": "/dicom-web", "wadoRoot": "/dicom-web",
            "qidoSupportsIncludeField": False, "supportsReject": False,
            "imageRendering": "wadors", "thumbnailRendering": "wadors",
            "enableStudyLazyLoad": True, "supportsFuzzyMatching": False,
            "supportsWildcard": True, "staticWado": False, "singlepart": "bulkdata,video",
            "bulkDataURI": {"enabled": True, "relativeResolution": "studies"},
            "omitQuotationForMultipartRequest": True,
        },
    }
    config = {
        "routerBasename": "/", "extensions": [], "modes": [], "customizationService": {},
        "showStudyList": True, "maxNumberOfWebWorkers": 2,
        "showWarningMessageForCrossOrigin": False, "showCPUFallbackMessage": False,
        "showLoadingIndicator": True, "strictZSpacingForVolumeViewport": True,
        "investigationalUseDialog": {"option": "never"},
        "maxNumRequests": {"interaction": 100, "thumbnail": 5, "prefetch": 10},
        "showErrorDetails": "always", "defaultDataSourceName": "orthanc",
        "dataSources": [source],
    }
    return f"window.config = {json.dumps(config, indent=2)};\n"


@dataclass(frozen=True)
class Server:
    """A running viewer origin."""

    url: str
    dist: Path
    requests: list[str]


def _handler(dist: Path, config_js: bytes, upstream: str,
             log: list[str]) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _isolation(self) -> None:
            # cross-origin isolation: cornerstone3D uses SharedArrayBuffer when it can
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self._isolation()
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _proxy(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            # the viewer's Host goes upstream, so the URLs Orthanc writes (BulkDataURI) stay
            # on the viewer's origin
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            finally:
                conn.close()
            log.append(f"{self.command} {self.path} {resp.status}")
            self.send_response(resp.status)
            for key, value in resp.getheaders():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self._isolation()
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _static(self) -> None:
            path = urlsplit(self.path).path
            if path == "/app-config.js":
                self._send(200, config_js, "text/javascript")
                return
            file = (dist / path.lstrip("/")).resolve()
            if not file.is_relative_to(dist) or not file.is_file():
                file = dist / "index.html"  # SPA fallback: the router owns unknown paths
            ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            self._send(200, file.read_bytes(), ctype)

        def do_GET(self) -> None:
            if self.path.startswith("/dicom-web/"):
                self._proxy()
            else:
                self._static()

        do_HEAD = do_GET

        def do_POST(self) -> None:
            if self.path.startswith("/dicom-web/"):
                self._proxy()
            else:
                self._send(405, b"", "text/plain")

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a page closed mid-download resets its sockets; anything else is printed
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def ohif_server(dicomweb_origin: str, dist: Path | None = None) -> Iterator[Server]:
    """Serve the OHIF dist on 127.0.0.1 and proxy ``/dicom-web/*`` to ``dicomweb_origin``.

    Args:
        dicomweb_origin: ``http://127.0.0.1:PORT`` of an Orthanc whose DICOMweb root is
            ``/dicom-web/``.
        dist: the OHIF ``dist/`` folder (default: :func:`ohif_dist`).

    Yields:
        The running :class:`Server`; it is shut down on exit.

    """
    dist = (dist or ohif_dist()).resolve()
    log: list[str] = []
    handler = _handler(dist, app_config().encode(), dicomweb_origin, log)
    httpd = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, name="ohif-server", daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", dist, log)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)



def stow(dicomweb_root: str, files: list[Path], batch: int = 40) -> None:
    """STOW-RS the files to ``{dicomweb_root}/studies`` (multipart/related, raw Part 10)."""

    boundary = "medcam-ohif-test-boundary"
    with httpx.Client(timeout=60) as client:
        for start in range(0, len(files), batch):
            parts = [b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n"
                     + f.read_bytes() + b"\r\n" for f in files[start:start + batch]]
            body = b"".join(parts) + b"--" + boundary.encode() + b"--\r\n"
            ctype = f'multipart/related; type="application/dicom"; boundary={boundary}'
            resp = client.post(f"{dicomweb_root}/studies", content=body,
                               headers={"Content-Type": ctype, "Accept": "application/dicom+json"})
            resp.raise_for_status()
            failed = resp.json().get("00081198", {}).get("Value")  # Failed SOP Sequence
            if failed:
                raise AssertionError(f"STOW-RS refused {len(failed)} instances")
