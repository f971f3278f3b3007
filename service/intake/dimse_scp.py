"""The DICOM listener: C-ECHO and C-STORE SCP that spools what it receives.

A C-STORE is answered ``0x0000`` only once the instance is fsynced in the spool;
``0xA700`` when the disk is full (or another write error) or a per-series or
per-association instance cap is reached, ``0xC000`` when the object cannot be filed
(malformed UIDs). Non-image instances are accepted and dropped (a routed service
records their series as skipped: :mod:`service.intake.series`). Received data is
streamed into the spool as it arrives (:mod:`service.intake.receive`): an instance
over ``max_instance_bytes`` aborts the association once the cap is passed.

The door is closed by default: an association is accepted only when its calling AE
title *and* source address match an entry of ``allowed_peers``
(:class:`medcam.pacs.aet.AllowedPeer`; AE titles compared after PS3.8's edge-space
rule, otherwise exactly); otherwise it is rejected with "calling AE title not
recognised" before any data set is read. An empty list admits any title, from
loopback addresses only; a listener bound off loopback needs at least one entry
with an explicit network.
"""

from __future__ import annotations

import errno
import logging
import threading
from dataclasses import dataclass

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.transport import ThreadedAssociationServer

from medcam.pacs.aet import AllowedPeer, peer_allowed
from medcam.pacs.base import VERIFICATION_SOP_CLASS
from service.headers import InvalidInstanceError, read_header
from service.intake.receive import RECEIVER_ATTR, ReceiveFile, ReceiveFiles, install
from service.intake.series import SeriesIntake, SpooledFile
from service.phi import PhiRegistry
from service.settings import is_loopback
from service.spool import Spool

__all__ = ["DicomListener", "ListenerConfig"]

LOGGER = logging.getLogger(__name__)
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000
#: A-ASSOCIATE-RJ: rejected-permanent, service-user, calling AE title not recognised
_REJECT_CALLING_AET = (0x01, 0x01, 0x03)


@dataclass(frozen=True)
class ListenerConfig:
    """Network settings of the listener (seconds for timeouts).

    Raises:
        ValueError: bound off loopback without an entry that names a network.

    """

    host: str
    port: int
    ae_title: str
    allowed_peers: tuple[AllowedPeer, ...] = ()
    max_associations: int = 10
    max_pdu_bytes: int = 1 << 20
    max_instance_bytes: int = 512 << 20
    acse_timeout_s: float = 10.0
    dimse_timeout_s: float = 30.0
    network_timeout_s: float = 60.0
    max_series_instances: int = 10_000
    max_association_instances: int = 50_000

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not any(
                not p.loopback_only for p in self.allowed_peers):
            raise ValueError("a DICOM listener off loopback needs allowed peers with "
                             "a network (TITLE@IP or TITLE@NETWORK/PREFIX)")


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
        self.refused_associations = 0
        #: the file-meta preamble (128 + 4 bytes) and meta group may come on top of
        #: the data set itself; a generous 64 KiB allowance keeps the cap about the data
        self.files = ReceiveFiles(spool, config.max_instance_bytes + (64 << 10))
        self._stored: dict[object, int] = {}

    def _ae(self) -> AE:
        c = self.config
        ae = AE(ae_title=c.ae_title)
        ae.maximum_associations = c.max_associations
        ae.maximum_pdu_size = c.max_pdu_bytes
        ae.acse_timeout = c.acse_timeout_s
        ae.dimse_timeout = c.dimse_timeout_s
        ae.network_timeout = c.network_timeout_s
        ae.require_called_aet = True
        setattr(ae, RECEIVER_ATTR, self.files)
        for cx in AllStoragePresentationContexts:
            if cx.abstract_syntax is not None:
                ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(VERIFICATION_SOP_CLASS)
        return ae

    def start(self) -> None:
        """Listen (in background threads)."""
        install()
        handlers: list[EventHandlerType] = [
            (evt.EVT_REQUESTED, self._on_requested),
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

    def _on_requested(self, event: Event) -> None:
        """Reject an association whose (calling AE title, address) pair is not allowed."""
        assoc = event.assoc
        calling = str(getattr(assoc.requestor.primitive, "calling_ae_title", "") or "")
        address = str(assoc.requestor.address)
        peers = self.config.allowed_peers
        if peer_allowed(peers, calling, address) if peers else is_loopback(address):
            return
        with self._stats_lock:
            self.refused_associations += 1
        LOGGER.warning("rejected an association: calling AE title and source address "
                       "not in MEDCAM_ALLOWED_AETS")
        assoc.acse.send_reject(*_REJECT_CALLING_AET)
        evt.trigger(assoc, evt.EVT_REJECTED, {})
        assoc.kill()

    def _on_end(self, event: Event) -> None:
        self.files.discard_all(event.assoc)
        with self._stats_lock:
            self._stored.pop(event.assoc, None)
        self.intake.association_ended(event.assoc)

    def _on_store(self, event: Event) -> int:
        received = self.files.claim(event.assoc, event.dataset_path)
        if received is None:  # cannot happen with install(); refuse rather than guess
            self._count(rejected=True)
            return STATUS_OUT_OF_RESOURCES
        try:
            return self._file(event.assoc, received)
        finally:
            received.discard()  # a no-op once published (renamed away)

    def _file(self, assoc: object, received: ReceiveFile) -> int:
        if received.overflowed:
            self._count(rejected=True)
            return STATUS_OUT_OF_RESOURCES
        if received.error is not None:
            return self._write_failed(received.error)
        try:
            digest = received.finish()
            header = read_header(received.path, self.registry)
        except InvalidInstanceError:
            self._count(rejected=True)
            return STATUS_CANNOT_UNDERSTAND
        except OSError as exc:
            return self._write_failed(exc)
        if not header.has_pixels:
            self.intake.note_not_kept(assoc, header, digest)
            self._count()
            return STATUS_SUCCESS
        with self._stats_lock:
            stored = self._stored.get(assoc, 0)
        if (stored >= self.config.max_association_instances
                or self.intake.pending_count(header.series_instance_uid)
                >= self.config.max_series_instances):
            LOGGER.warning("refused an instance: per-association or per-series cap reached")
            self._count(rejected=True)
            return STATUS_OUT_OF_RESOURCES
        try:
            self.intake.add_pending(assoc, SpooledFile(
                received.path, digest, header.study_instance_uid,
                header.series_instance_uid))
        except OSError as exc:
            return self._write_failed(exc)
        with self._stats_lock:
            self._stored[assoc] = stored + 1
        self._count()
        return STATUS_SUCCESS

    def _write_failed(self, exc: OSError) -> int:
        reason = "disk full" if exc.errno == errno.ENOSPC else type(exc).__name__
        LOGGER.error("could not spool an instance (%s)", reason)
        self._count(rejected=True)
        return STATUS_OUT_OF_RESOURCES

    def _count(self, *, rejected: bool = False) -> None:
        with self._stats_lock:
            if rejected:
                self.rejected += 1
            else:
                self.received += 1
