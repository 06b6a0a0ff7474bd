"""Moved to :mod:`spectralnn.sweep` (kept for imports of the old name)."""

from .sweep import format_summary, run_sweep, summarise, table  # noqa: F401
