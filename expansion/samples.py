"""The bundled sample portfolio: where it is and the date it is as of.

Kept apart from :mod:`expansion.pipeline` so the CLI can show these defaults in ``--help``
without importing pandas and SQLAlchemy.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

SAMPLE_PORTFOLIO = Path(__file__).parent / "sample" / "portfolio"
SAMPLE_AS_OF = date(2026, 11, 16)
