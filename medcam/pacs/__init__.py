"""Talking to a PACS: C-STORE and STOW-RS senders, QIDO-RS/WADO-RS retrieval.

The batch runner (``medcam batch --push``, DICOMweb archives) and the service use
this one package. Importing it is light: pynetdicom, dicomweb-client and requests
(the ``pacs`` extra) are imported only by the functions that talk to a peer.

* :mod:`medcam.pacs.base`: :class:`PushItem`, :class:`PushOutcome`, the
  :class:`PacsSender` protocol, DIMSE status classification, :func:`send_files`;
* :mod:`medcam.pacs.aet`: the one AE-title rule;
* :mod:`medcam.pacs.cstore`: :class:`~medcam.pacs.cstore.CStoreSender`;
* :mod:`medcam.pacs.stowrs`: :class:`~medcam.pacs.stowrs.StowRsSender`;
* :mod:`medcam.pacs.dicomweb`: the one DICOMweb client (finite timeouts, no hidden
  retries, paged QIDO-RS) and WADO-RS retrieval.
"""

from __future__ import annotations

from medcam.pacs.aet import is_ae_title, validate_ae_title
from medcam.pacs.base import (
    RETRYABLE_STATES,
    STORED_STATES,
    FileOutcome,
    PacsSender,
    PushItem,
    PushOutcome,
    PushState,
    classify_status,
    send_files,
)

__all__ = ["RETRYABLE_STATES", "STORED_STATES", "FileOutcome", "PacsSender", "PushItem",
           "PushOutcome", "PushState", "classify_status", "is_ae_title", "send_files",
           "validate_ae_title"]
