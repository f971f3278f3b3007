"""Progress of a batch run: series done, series per minute, ETA, failures.

On a terminal a tqdm bar (stderr); otherwise (logs, CI) one plain line every
:data:`LINE_INTERVAL_S` seconds and at the end, so a log stays readable.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["LINE_INTERVAL_S", "Progress"]

LINE_INTERVAL_S = 30.0


class Progress:
    """Counts outcomes and shows them.

    Args:
        total: series to process in this run.
        enabled: show anything at all.
        stream: where to write (default stderr).

    """

    def __init__(self, total: int, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total = total
        self.counts = {"done": 0, "failed": 0, "skipped": 0}
        self._stream = stream or sys.stderr
        self._enabled = enabled and total > 0
        self._t0 = time.monotonic()
        self._last_line = self._t0
        self._bar: Any = None
        if self._enabled and self._stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="series", file=self._stream, smoothing=0.1,
                             dynamic_ncols=True)

    @property
    def finished(self) -> int:
        """Series finished so far."""
        return sum(self.counts.values())

    def rate_per_min(self) -> float:
        """Series per minute since the start."""
        elapsed = time.monotonic() - self._t0
        return 60.0 * self.finished / elapsed if elapsed > 0 else 0.0

    def update(self, status: str) -> None:
        """Count one finished series."""
        self.counts[status] = self.counts.get(status, 0) + 1
        if not self._enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix(per_min=f"{self.rate_per_min():.1f}",
                                  failed=self.counts["failed"], refresh=False)
            self._bar.update(1)
        elif time.monotonic() - self._last_line >= LINE_INTERVAL_S:
            self._line()

    def _line(self) -> None:
        rate = self.rate_per_min()
        left = self.total - self.finished
        eta = f"{left / rate:.1f} min" if rate > 0 else "?"
        self._stream.write(f"batch: {self.finished}/{self.total} series, {rate:.1f}/min, "
                           f"ETA {eta}, {self.counts['failed']} failed\n")
        self._stream.flush()
        self._last_line = time.monotonic()

    def close(self) -> None:
        """Finish the bar or write the last line."""
        if self._bar is not None:
            self._bar.close()
        elif self._enabled:
            self._line()
