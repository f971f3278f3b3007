"""Batch engines: ``local`` (worker processes) and ``ray`` (Ray actors)."""
