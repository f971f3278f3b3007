"""The DICOM listener: C-ECHO and C-STORE SCP that spools what it receives.

A C-STORE is answered ``0x0000`` only once the instance is fsynced in the spool;
``0xA700`` when the disk is full (or another write error), ``0xC000`` when the
object cannot be filed (malformed UIDs). Non-image instances are accepted and
dropped. Calling AE titles are checked against ``MEDCAM_ALLOWED_AETS``.
"""

from __future__ import annotations

import errno
import logging
import threading
from dataclasses import dataclass

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.transport import ThreadedAssociationServer

from medcam.pacs.base import VERIFICATION_SOP_CLASS
from service.headers import InvalidInstanceError, header_from_dataset
from service.intake.series import SeriesIntake, SpooledFile
from service.phi import PhiRegistry
from service.spool import Spool

__all__ = ["DicomListener", "ListenerConfig"]

LOGGER = logging.getLogger(__name__)
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000


@dataclass(frozen=True)
class ListenerConfig:
    """Network settings of the listener (seconds for timeouts)."""

    host: str
    port: int
    ae_title: str
    allowed_aets: tuple[str, ...] = ()
    max_associations: int = 10
    max_pdu_bytes: int = 1 << 20
    max_instance_bytes: int = 512 << 20
    acse_timeout_s: float = 10.0
    dimse_timeout_s: float = 30.0
    network_timeout_s: float = 60.0


class DicomListener:
    """A pynetdicom storage SCP feeding :class:`SeriesIntake`.

    Args:
        config: network settings.
        spool: where instances are written.
        intake: groups instances into series jobs.
        registry: patient values to remember for log scrubbing.

    """

    def __init__(self, config: ListenerConfig, spool: Spool, intake: SeriesIntake,
                 registry: PhiRegistry) -> None:
        self.config, self.spool, self.intake, self.registry = config, spool, intake, registry
        self._server: ThreadedAssociationServer | None = None
        self._stats_lock = threading.Lock()
        self.received = 0
        self.rejected = 0

    def _ae(self) -> AE:
        c = self.config
        ae = AE(ae_title=c.ae_title)
        ae.maximum_associations = c.max_associations
        ae.maximum_pdu_size = c.max_pdu_bytes
        ae.acse_timeout = c.acse_timeout_s
        ae.dimse_timeout = c.dimse_timeout_s
        ae.network_timeout = c.network_timeout_s
        ae.require_called_aet = True
        ae.require_calling_aet = list(c.allowed_aets)
        for cx in AllStoragePresentationContexts:
            if cx.abstract_syntax is not None:
                ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(VERIFICATION_SOP_CLASS)
        return ae

    def start(self) -> None:
        """Listen (in background threads)."""
        handlers: list[EventHandlerType] = [
            (evt.EVT_C_STORE, self._on_store), (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_RELEASED, self._on_end), (evt.EVT_ABORTED, self._on_end),
            (evt.EVT_CONN_CLOSE, self._on_end)]
        self._server = self._ae().start_server((self.config.host, self.config.port),
                                               block=False, evt_handlers=handlers)
        LOGGER.info("DICOM listener %s on %s:%d", self.config.ae_title, self.config.host,
                    self.port)

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        if self._server is None:
            return self.config.port
        return int(self._server.server_address[1])

    def stop(self) -> None:
        """Stop listening and close open associations."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    @staticmethod
    def _on_echo(_event: Event) -> int:
        return STATUS_SUCCESS

    def _on_end(self, event: Event) -> None:
        self.intake.association_ended(event.assoc)

    def _on_store(self, event: Event) -> int:
        try:
            header = header_from_dataset(event.dataset, self.registry)
        except InvalidInstanceError:
            self._count(rejected=True)
            return STATUS_CANNOT_UNDERSTAND
        if not header.has_pixels:
            self._count()
            return STATUS_SUCCESS
        data = event.encoded_dataset(include_meta=True)
        if len(data) > self.config.max_instance_bytes:
            self._count(rejected=True)
            return STATUS_OUT_OF_RESOURCES
        tmp = None
        try:
            tmp, digest = self.spool.write_bytes(data)
            self.intake.add_pending(event.assoc, SpooledFile(
                tmp, digest, header.study_instance_uid, header.series_instance_uid))
        except OSError as exc:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            reason = "disk full" if exc.errno == errno.ENOSPC else type(exc).__name__
            LOGGER.error("could not spool an instance (%s)", reason)
            self._count(rejected=True)
            return STATUS_OUT_OF_RESOURCES
        self._count()
        return STATUS_SUCCESS

    def _count(self, *, rejected: bool = False) -> None:
        with self._stats_lock:
            if rejected:
                self.rejected += 1
            else:
                self.received += 1
