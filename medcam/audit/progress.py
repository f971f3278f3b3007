"""A progress bar on stderr: tqdm when it is installed, else a simple text bar."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Progress"]


class Progress:
    """Count work units on stderr; a no-op when ``enabled`` is false.

    Args:
        total: number of units.
        desc: label shown before the bar.
        enabled: whether to draw anything.
        stream: where to draw (default ``sys.stderr``).

    """

    def __init__(self, total: int, desc: str = "audit", *, enabled: bool = True,
                 stream: TextIO | None = None) -> None:
        self.total, self.desc, self.enabled = max(int(total), 0), desc, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self._bar: Any = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                self._bar = None
            else:
                self._bar = tqdm(total=self.total, desc=desc, file=self.stream, unit="run")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def update(self, label: str = "") -> None:
        """Advance by one unit; ``label`` says what finished (no patient data)."""
        self.done += 1
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(label, refresh=False)
            self._bar.update(1)
            return
        width = 30
        filled = width * self.done // self.total if self.total else width
        self.stream.write(f"\r{self.desc} [{'#' * filled}{'.' * (width - filled)}] "
                          f"{self.done}/{self.total} {label[:40]:<40}")
        self.stream.flush()

    def close(self) -> None:
        """Finish the bar (a newline for the text bar)."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.done:
            self.stream.write("\n")
            self.stream.flush()
        self.enabled = False
