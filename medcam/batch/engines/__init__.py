"""Batch engines: ``local`` (worker processes) and ``ray`` (Ray actors)."""

__all__ = ["ENGINES"]

#: Engine names of ``medcam batch --engine``.
ENGINES = ("local", "ray")
