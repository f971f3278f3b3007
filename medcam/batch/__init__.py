"""Archive batch processing: explain every image series of an archive, resumably.

``medcam batch ARCHIVE --out DIR`` (:mod:`medcam.batch.cli`) or, from Python::

    from medcam.batch import BatchOptions, run_batch
    report = run_batch(BatchOptions("archive/", Path("out"), workers=2))

Modules: :mod:`.plan` and :mod:`.scancache` (archive -> work units), :mod:`.dicomweb`
(QIDO-RS/WADO-RS archives), :mod:`.units` (keys), :mod:`.manifest` (journal and final
manifest), :mod:`.worker` (one series), :mod:`.schedule` with :mod:`.engines.local` and
:mod:`.engines.ray`, :mod:`.progress`, :mod:`.push`, :mod:`.runner` (the run). The
names below are imported on first use, so ``medcam --help`` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medcam.batch.manifest import ManifestEntry, comparable, read_manifest
    from medcam.batch.runner import BatchOptions, BatchReport, run_batch

__all__ = ["BatchOptions", "BatchReport", "ManifestEntry", "comparable", "read_manifest",
           "run_batch"]

_LAZY = {"ManifestEntry": "medcam.batch.manifest", "comparable": "medcam.batch.manifest",
         "read_manifest": "medcam.batch.manifest", "BatchOptions": "medcam.batch.runner",
         "BatchReport": "medcam.batch.runner", "run_batch": "medcam.batch.runner"}


def __getattr__(name: str) -> Any:  # noqa: ANN401 - lazy re-export
    """Import the public API lazily (PEP 562)."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medcam.batch' has no attribute {name!r}")
