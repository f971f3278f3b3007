"""C-STORE push with pynetdicom: finite timeouts, one outcome per instance.

* an empty status Dataset (timeout, abort, invalid reply) is ``unknown``: retried,
  never counted as stored;
* a presentation context the PACS rejects is a :class:`PermanentPushError`;
* a refused connection or a transient association rejection is a
  :class:`TransientPushError`.

The files may be of any SOP Classes and transfer syntaxes: one presentation
context is proposed per (SOP Class, transfer syntax) pair present (PS3.8 9.3.2.2),
at most 128 in one association. pynetdicom (the ``pacs`` extra) is imported when
an association is made.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from medcam.errors import PermanentPushError, TransientPushError
from medcam.pacs.base import VERIFICATION_SOP_CLASS, PushItem, PushOutcome, classify_status

if TYPE_CHECKING:
    from pynetdicom import AE
    from pynetdicom.association import Association

__all__ = ["MAX_CONTEXTS", "CStoreSender", "DimseTimeouts"]

LOGGER = logging.getLogger(__name__)
#: Presentation contexts one association can carry (odd context IDs 1-255, PS3.8 9.3.2.2).
MAX_CONTEXTS = 128


@dataclass(frozen=True)
class DimseTimeouts:
    """Seconds; every one is finite (pynetdicom's connection default is infinite)."""

    connection_s: float = 5.0
    acse_s: float = 10.0
    dimse_s: float = 30.0
    network_s: float = 60.0


@dataclass(frozen=True)
class CStoreSender:
    """Sends files to one DICOM peer with C-STORE.

    Args:
        calling_aet: our AE title.
        called_aet: the PACS's AE title.
        host: the PACS's address.
        port: the PACS's DICOM port.
        timeouts: association timeouts.

    """

    calling_aet: str
    called_aet: str
    host: str
    port: int
    timeouts: DimseTimeouts = DimseTimeouts()

    def _ae(self) -> AE:
        from pynetdicom import AE

        ae = AE(ae_title=self.calling_aet)
        ae.connection_timeout = self.timeouts.connection_s
        ae.acse_timeout = self.timeouts.acse_s
        ae.dimse_timeout = self.timeouts.dimse_s
        ae.network_timeout = self.timeouts.network_s
        return ae

    def _associate(self, ae: AE) -> Association:
        assoc = ae.associate(self.host, self.port, ae_title=self.called_aet)
        if assoc.is_established:
            return assoc
        if assoc.rejected_contexts and not assoc.accepted_contexts and assoc.is_aborted:
            raise PermanentPushError("the PACS rejected every presentation context")
        if assoc.is_rejected:
            raise TransientPushError("the PACS rejected the association")
        raise TransientPushError("could not establish an association with the PACS")

    def echo(self) -> bool:  # noqa: D102
        ae = self._ae()
        ae.add_requested_context(VERIFICATION_SOP_CLASS)
        try:
            assoc = self._associate(ae)
        except (TransientPushError, PermanentPushError):
            return False
        try:
            status = assoc.send_c_echo()
            return bool(status) and int(status.get("Status", -1)) == 0
        finally:
            assoc.release()

    def send(self, items: Sequence[PushItem]) -> list[PushOutcome]:  # noqa: D102
        if not items:
            return []
        datasets: list[tuple[PushItem, Dataset]] = []
        outcomes: dict[str, PushOutcome] = {}
        contexts_of: dict[str, tuple[str, str]] = {}
        for item in items:
            try:
                ds = dcmread(item.path)
                contexts_of[item.sop_instance_uid] = (str(ds.SOPClassUID),
                                                      str(ds.file_meta.TransferSyntaxUID))
            except (InvalidDicomError, OSError, EOFError, ValueError, AttributeError) as exc:
                outcomes[item.sop_instance_uid] = PushOutcome(
                    item.sop_instance_uid, "failed_permanent", None,
                    f"output file unreadable ({type(exc).__name__})")
                continue
            datasets.append((item, ds))
        contexts = sorted(set(contexts_of.values()))
        if len(contexts) > MAX_CONTEXTS:
            raise PermanentPushError(f"{len(contexts)} (SOP Class, transfer syntax) pairs "
                                     f"exceed the {MAX_CONTEXTS} contexts of one association")
        ae = self._ae()
        for sop_class, ts in contexts:
            ae.add_requested_context(sop_class, ts)
        if datasets:
            assoc = self._associate(ae)
            try:
                self._send_all(assoc, datasets, outcomes)
            finally:
                if assoc.is_established:
                    assoc.release()
        return [outcomes[i.sop_instance_uid] for i in items]

    @staticmethod
    def _send_all(assoc: Association, datasets: list[tuple[PushItem, Dataset]],
                  outcomes: dict[str, PushOutcome]) -> None:
        for n, (item, ds) in enumerate(datasets):
            uid = item.sop_instance_uid
            if not assoc.is_established:
                for later, _ in datasets[n:]:
                    outcomes[later.sop_instance_uid] = PushOutcome(
                        later.sop_instance_uid, "failed_retryable", None,
                        "association lost before this instance was sent")
                return
            try:
                status = assoc.send_c_store(ds)
            except ValueError:
                outcomes[uid] = PushOutcome(uid, "failed_permanent", None,
                                            "no accepted presentation context for this instance")
                continue
            if not status or "Status" not in status:
                outcomes[uid] = PushOutcome(uid, "unknown", None,
                                            "no valid response (timeout, abort or invalid reply)")
                continue
            code = int(status.Status)
            outcomes[uid] = PushOutcome(uid, classify_status(code), code,
                                        f"C-STORE status 0x{code:04X}")
