"""One number style for everything a person reads: money, counts and percentages.

Two registers, both from here so they cannot drift apart:

- **compact**, for chat and cards where a figure is glanced at: :func:`money` (``$900``,
  ``$8.4K``, ``$64K``, ``$1.2M``), :func:`signed_money` (``+$64K``), :func:`count`
  (``920,000``) and :func:`pct` (``54%``);
- **exact**, for the playbook, evidence sentences and pricing where a figure is quoted:
  :func:`money_exact` (``$57,600``) and the vectorised :func:`money_series` /
  :func:`count_series` used when the engine writes a sentence per opportunity.

A missing value (``None``, NaN) reads ``n/a``. Plain Python and pandas only: the Slack bot and
the engine both use this module, so it knows nothing of Slack.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .frames import per_distinct

MISSING = "n/a"


def _missing(value) -> bool:
    return value is None or value is pd.NaT or value != value


def money(value) -> str:
    """Compact money: ``$900``, ``$8.4K``, ``$64K``, ``$1.2M`` (a trailing ``.0`` dropped)."""
    if _missing(value):
        return MISSING
    v = float(value)
    sign = "-" if v < 0 else ""
    v = abs(v)
    if round(v / 1_000) >= 1_000:
        text = f"{v / 1_000_000:.1f}".removesuffix(".0") + "M"
    elif v >= 10_000 or (round(v / 100) % 10 == 0 and v >= 1_000):
        text = f"{v / 1_000:.0f}K"
    elif v >= 1_000:
        text = f"{v / 1_000:.1f}".removesuffix(".0") + "K"
    else:
        text = f"{v:,.0f}"
    return f"{sign}${text}"


def signed_money(value) -> str:
    """``+$64K`` / ``-$5K``: a change in money."""
    if _missing(value):
        return MISSING
    return money(value) if float(value) < 0 else "+" + money(value)


def money_exact(value, digits: int = 0) -> str:
    """Exact money with thousands separators: ``$57,600``."""
    if _missing(value):
        return MISSING
    return f"${float(value):,.{digits}f}"


def count(value, digits: int = 0) -> str:
    """A count with thousands separators: ``920,000``."""
    if _missing(value):
        return MISSING
    return f"{float(value):,.{digits}f}"


def pct(fraction, digits: int = 0) -> str:
    """A fraction as a percentage: ``0.54`` -> ``54%``."""
    if _missing(fraction):
        return MISSING
    return f"{float(fraction) * 100:.{digits}f}%"


def money_series(values: pd.Series) -> pd.Series:
    """:func:`money_exact` of whole dollars for a column (missing stays missing)."""
    amount = np.round(pd.to_numeric(values).to_numpy(dtype=float, na_value=np.nan))
    known = ~np.isnan(amount)
    text = np.full(len(amount), np.nan, dtype=object)
    text[known] = [f"${v:,}" for v in amount[known].astype(np.int64).tolist()]
    return pd.Series(text, index=values.index, dtype="str")


def count_series(values: pd.Series) -> pd.Series:
    """:func:`count` of whole numbers for a column (``1,961,954``), once per distinct value."""
    return per_distinct(
        values.astype(float).round().astype("Int64"), lambda v: v.map("{:,}".format), dtype="str"
    )
