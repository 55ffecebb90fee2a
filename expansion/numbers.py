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

**Bands**, for readers who may not see figures (a Slack channel with "redact" on, a Slack Connect
channel): :func:`money_band` turns an amount into one of :data:`MONEY_BANDS` (``under $10K``,
``$50–100K``, ``$1–2.5M``, ``$100M+``). Within ``with banded():`` every money function here
answers a band instead of a figure (like :func:`decimal.localcontext`, the switch holds for the
current thread or task only), so the code that writes a message does not change; and
:func:`band_figures` bands every dollar figure left in a text (``$480`` -> ``under $10K``),
leaving bands as they are.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import pandas as pd

from .frames import per_distinct

MISSING = "n/a"


def _missing(value) -> bool:
    return value is None or value is pd.NaT or value != value


def money(value) -> str:
    """Compact money: ``$900``, ``$8.4K``, ``$64K``, ``$1.2M`` (a trailing ``.0`` dropped);
    its band when :func:`banded`."""
    if _missing(value):
        return MISSING
    if _BANDED.get():
        return money_band(value)
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
    """Exact money with thousands separators: ``$57,600``; its band when :func:`banded`."""
    if _missing(value):
        return MISSING
    if _BANDED.get():
        return money_band(value)
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


# --------------------------------------------------------------------------- bands

#: Money bands, lowest first: (lower bound, inclusive; label). An amount is in the last band
#: whose lower bound it reaches. About two bands per decade (1, 2.5, 5 x 10^n), wide enough that
#: a band does not give a deal away, narrow enough to rank deals by size: an SMB seat deal is
#: ``under $10K`` or ``$10–25K``, a mid-market one ``$25–50K`` or ``$50–100K``, an enterprise
#: one ``$100–250K`` and up; a portfolio's pipeline is ``$1–2.5M``, ``$2.5–5M``... A price or
#: a unit cost is ``under $10K``. A negative amount is the band of its size with a minus sign.
MONEY_BANDS: tuple[tuple[float, str], ...] = (
    (0, "under $10K"),
    (10_000, "$10–25K"),
    (25_000, "$25–50K"),
    (50_000, "$50–100K"),
    (100_000, "$100–250K"),
    (250_000, "$250–500K"),
    (500_000, "$500K–1M"),
    (1_000_000, "$1–2.5M"),
    (2_500_000, "$2.5–5M"),
    (5_000_000, "$5–10M"),
    (10_000_000, "$10–25M"),
    (25_000_000, "$25–50M"),
    (50_000_000, "$50–100M"),
    (100_000_000, "$100M+"),
)

_BANDED: ContextVar[bool] = ContextVar("expansion_money_banded", default=False)


@contextmanager
def banded(on: bool = True) -> Iterator[None]:
    """Within this block (this thread or task only), :func:`money`, :func:`signed_money` and
    :func:`money_exact` answer bands (``on=False``: figures, as outside it)."""
    token = _BANDED.set(on)
    try:
        yield
    finally:
        _BANDED.reset(token)


def is_banded() -> bool:
    """Whether money is shown as bands here (inside ``with banded():``)."""
    return _BANDED.get()


def money_band(value) -> str:
    """The band of ``value`` (:data:`MONEY_BANDS`): ``72_000`` -> ``$50–100K``, ``n/a`` when
    missing."""
    if _missing(value):
        return MISSING
    v = float(value)
    if math.isinf(v):
        return ("-" if v < 0 else "") + MONEY_BANDS[-1][1]
    label = next(label for low, label in reversed(MONEY_BANDS) if abs(v) >= low)
    return ("-" if v < 0 else "") + label


_BAND_TEXT = "|".join(
    re.escape(label) for _, label in sorted(MONEY_BANDS, key=lambda b: -len(b[1]))
)
# A dollar figure: $57,600 / $480 / $0.0005 / $9.6K / $1.2M / $3B (a suffix not inside a word).
_FIGURE_TEXT = r"\$(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[KkMmBb](?![A-Za-z]))?"
_FIGURES = re.compile(rf"({_BAND_TEXT})|({_FIGURE_TEXT})")
_SCALE = {"k": 1e3, "m": 1e6, "b": 1e9}


def _figure_value(text: str) -> float:
    number = text[1:]
    scale = _SCALE.get(number[-1].lower(), 1.0) if number[-1].isalpha() else 1.0
    return float(number.rstrip("KkMmBb").replace(",", "")) * scale


def band_figures(text: str) -> str:
    """``text`` with every dollar figure replaced by its band (``$57,600`` -> ``$50–100K``,
    ``+$9.6K`` -> ``+under $10K``); bands already in it are kept as they are."""
    return _FIGURES.sub(lambda m: m.group(1) or money_band(_figure_value(m.group(2))), text)


def figures_in(text: str) -> list[str]:
    """The dollar figures (not bands) in ``text``: what :func:`band_figures` would replace."""
    return [m.group(2) for m in _FIGURES.finditer(text) if m.group(2)]
