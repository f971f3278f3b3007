"""Streaming multipart intake: parts go straight to spool files, under hard limits.

Nothing is buffered in memory beyond one chunk; the part count and the byte count
are checked as data arrives, so an oversized upload is refused (413) without being
read to the end.
"""

from __future__ import annotations

from dataclasses import dataclass

from python_multipart.multipart import MultipartParser, parse_options_header

from medcam.durable import fsync_file
from service.errors import UploadLimitError, UploadRejectedError
from service.headers import InvalidInstanceError, read_header
from service.intake.series import SpooledFile
from service.phi import PhiRegistry
from service.spool import Spool, SpoolWriter

__all__ = ["MultipartSink", "UploadLimitError", "UploadRejectedError", "boundary_of",
           "identify_parts"]

_MULTIPART = (b"multipart/form-data", b"multipart/related")


def boundary_of(content_type: str | None) -> bytes:
    """Return the multipart boundary of a Content-Type header.

    Raises:
        UploadRejectedError: not a multipart/form-data or multipart/related body.

    """
    ctype, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if ctype not in _MULTIPART or not boundary:
        raise UploadRejectedError("expected a multipart/form-data or multipart/related body")
    return boundary


@dataclass
class _Limits:
    max_parts: int
    max_part_bytes: int
    max_total_bytes: int


class MultipartSink:
    """Feeds a multipart body into spool files, one per part.

    Args:
        spool: the spool.
        boundary: the body's boundary.
        max_parts: most parts (instances) accepted.
        max_part_bytes: most bytes of one part.
        max_total_bytes: most bytes of the whole body.

    """

    def __init__(self, spool: Spool, boundary: bytes, max_parts: int, max_part_bytes: int,
                 max_total_bytes: int) -> None:
        self.spool = spool
        self.limits = _Limits(max_parts, max_part_bytes, max_total_bytes)
        self.done: list[tuple[SpoolWriter, str]] = []
        self._current: SpoolWriter | None = None
        self._received = 0
        self._parser = MultipartParser(boundary, callbacks={
            "on_part_begin": self._begin, "on_part_data": self._data, "on_part_end": self._end})

    def _begin(self) -> None:
        if len(self.done) >= self.limits.max_parts:
            raise UploadLimitError(f"more than {self.limits.max_parts} instances in one upload")
        self._current = self.spool.writer(self.limits.max_part_bytes)

    def _data(self, data: bytes, start: int, end: int) -> None:
        try:
            self._part().write(data[start:end])
        except OverflowError as exc:
            raise UploadLimitError("an instance exceeds the configured size limit") from exc

    def _part(self) -> SpoolWriter:
        if self._current is None:
            raise UploadRejectedError("multipart data outside a part")
        return self._current

    def _end(self) -> None:
        part = self._part()
        self.done.append((part, part.close(sync=False)))
        self._current = None

    def feed(self, chunk: bytes) -> None:
        """Parse the next chunk of the body.

        Raises:
            UploadLimitError: a limit is exceeded.
            UploadRejectedError: the body is not valid multipart.

        """
        self._received += len(chunk)
        if self._received > self.limits.max_total_bytes:
            raise UploadLimitError("the upload exceeds the configured size limit")
        try:
            self._parser.write(chunk)
        except ValueError as exc:
            raise UploadRejectedError("malformed multipart body") from exc

    def finish(self) -> None:
        """Check that the body ended cleanly."""
        if self._current is not None:
            raise UploadRejectedError("the multipart body ended inside a part")
        self._parser.finalize()

    def discard(self) -> None:
        """Delete every file written so far."""
        if self._current is not None:
            self._current.discard()
            self._current = None
        for writer, _ in self.done:
            writer.discard()
        self.done.clear()


def identify_parts(sink: MultipartSink, registry: PhiRegistry) -> list[SpooledFile]:
    """Sync every part and read its identity; drop non-image instances.

    Raises:
        UploadRejectedError: a part is not a DICOM file with valid UIDs (nothing is
            kept then).

    """
    files = []
    for n, (writer, digest) in enumerate(sink.done, start=1):
        try:
            header = read_header(writer.path, registry)
        except InvalidInstanceError as exc:
            raise UploadRejectedError(f"part {n} is not a DICOM instance: {exc}") from exc
        if not header.has_pixels:
            writer.discard()
            continue
        fsync_file(writer.path)
        files.append(SpooledFile(writer.path, digest, header.study_instance_uid,
                                 header.series_instance_uid))
    return files
