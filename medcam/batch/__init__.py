"""Archive batch processing: explain every image series of an archive, resumably.

``medcam batch ARCHIVE --out DIR`` (:mod:`medcam.batch.cli`) or, from Python::

    from medcam.batch import BatchOptions, run_batch
    report = run_batch(BatchOptions("archive/", Path("out"), workers=2))

Modules: :mod:`.plan` (archive -> work units), :mod:`.dicomweb` (QIDO-RS/WADO-RS
archives), :mod:`.units` (keys), :mod:`.manifest` (journal and final manifest),
:mod:`.worker` (one series), :mod:`.schedule` with :mod:`.engines.local` and
:mod:`.engines.ray`, :mod:`.progress`, :mod:`.push`, :mod:`.runner` (the run).
"""

from __future__ import annotations

from medcam.batch.manifest import ManifestEntry, comparable, read_manifest
from medcam.batch.runner import BatchOptions, BatchReport, run_batch

__all__ = ["BatchOptions", "BatchReport", "ManifestEntry", "comparable", "read_manifest",
           "run_batch"]
