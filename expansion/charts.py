"""Charts of a scope's pipeline, as PNG: what people would rather look at than read.

Two pictures, drawn the same way wherever they land (the digest's parent message,
``/expansion chart``, the playbook's PNG files):

- :func:`render_pipeline`: pipeline and expected value by tier, and by opportunity type;
- :func:`render_trend`: Tier 1 pipeline over a channel's last digests.

They are made for a phone: 800 px wide, large type, values written on the bars (no legend to
hunt for: the title says which colour is which), at most four colours from the Okabe-Ito
palette (colour-blind safe), money in the one style of :mod:`expansion.numbers`. Labels are
tiers, opportunity types and digest dates only; no customer text is drawn.

Drawing uses matplotlib's object API (``Figure`` + the Agg canvas): no display, no pyplot and
no global state, so charts can be drawn in several threads at once; matplotlib is imported on
the first drawing only. The output is
deterministic for the same data (fixed font, no timestamp in the PNG), which the golden image
test relies on.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from .numbers import money

if TYPE_CHECKING:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

#: Okabe-Ito: blue (pipeline), orange (expected value), and the text and grid greys.
PIPELINE = "#0072B2"
EXPECTED = "#E69F00"
INK = "#222222"
MUTED = "#666666"
FONT = "DejaVu Sans"  # ships with matplotlib: the same glyphs on every machine
WIDTH_IN = 8.0
DPI = 100
#: Opportunity types drawn one bar each; the rest are summed into "Other types".
MAX_TYPES = 5
#: Digests the trend shows, the current one included.
TREND_POINTS = 12


@dataclass(frozen=True)
class Bar:
    """One row of a bar chart: a label, its pipeline (ARR) and its expected value."""

    label: str
    pipeline: float
    expected: float


@dataclass(frozen=True)
class Point:
    """One digest of the trend: its label (``23 Nov``) and its Tier 1 pipeline."""

    label: str
    pipeline: float


@dataclass(frozen=True)
class ChartData:
    """What the charts draw, small enough to store with a digest's plan (``to_dict``)."""

    subtitle: str
    by_tier: list[Bar] = field(default_factory=list)
    by_type: list[Bar] = field(default_factory=list)
    trend: list[Point] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChartData:
        return cls(
            subtitle=str(data.get("subtitle", "")),
            by_tier=[Bar(**b) for b in data.get("by_tier", [])],
            by_type=[Bar(**b) for b in data.get("by_type", [])],
            trend=[Point(**p) for p in data.get("trend", [])],
        )

    @property
    def empty(self) -> bool:
        return not any(b.pipeline for b in self.by_tier)


def _open(opportunities: pd.DataFrame) -> pd.DataFrame:
    if "active" in opportunities:
        return opportunities[opportunities["active"].fillna(False).astype(bool)]
    return opportunities


def chart_data(
    opportunities: pd.DataFrame, *, subtitle: str, trend: list[Point] | None = None
) -> ChartData:
    """The bars of a scope's open opportunities (``expansion_arr``, ``expected_value``, ``tier``,
    ``type_label``): one per tier 1-5, one per type (the :data:`MAX_TYPES` largest by pipeline,
    the rest as "Other types")."""
    opps = _open(opportunities)
    arr = pd.to_numeric(opps["expansion_arr"], errors="coerce").fillna(0.0)
    ev = pd.to_numeric(opps["expected_value"], errors="coerce").fillna(0.0)
    frame = pd.DataFrame(
        {
            "tier": opps["tier"].astype(int),
            "type": opps["type_label"].fillna("Other").astype(str),
            "arr": arr,
            "ev": ev,
        }
    )
    tiers = frame.groupby("tier")[["arr", "ev"]].sum()
    by_tier = [
        Bar(
            f"Tier {t}",
            float(tiers["arr"].get(t, 0.0)),
            float(tiers["ev"].get(t, 0.0)),
        )
        for t in range(1, 6)
    ]
    types = frame.groupby("type")[["arr", "ev"]].sum()
    types = types.loc[sorted(types.index, key=lambda k: (-types.at[k, "arr"], k))]
    by_type = [Bar(str(k), float(r.arr), float(r.ev)) for k, r in types.head(MAX_TYPES).iterrows()]
    rest = types.iloc[MAX_TYPES:]
    if len(rest):
        by_type.append(Bar("Other types", float(rest["arr"].sum()), float(rest["ev"].sum())))
    return ChartData(subtitle=subtitle, by_tier=by_tier, by_type=by_type, trend=list(trend or []))


def tier1_pipeline(opportunities: pd.DataFrame) -> float:
    """The open Tier 1 pipeline (ARR) of a scope: the figure the trend follows."""
    opps = _open(opportunities)
    tier1 = opps[opps["tier"] == 1]
    return float(pd.to_numeric(tier1["expansion_arr"], errors="coerce").fillna(0.0).sum())


# --------------------------------------------------------------------------- drawing


def _figure(height_in: float) -> tuple[Figure, FigureCanvasAgg]:
    # Imported here: matplotlib takes half a second to load, and only drawing needs it (the
    # digest's plan, the bot's start and `expansion find` do not).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, facecolor="white")
    return fig, FigureCanvasAgg(fig)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # No "Software" text chunk, no date: the same data draws the same bytes.
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
    return buf.getvalue()


def _text(fig_or_ax, x: float, y: float, s: str, **kw) -> None:
    kw.setdefault("fontfamily", FONT)
    kw.setdefault("color", INK)
    kw.setdefault("parse_math", False)  # "$384K" is money, not TeX
    fig_or_ax.text(x, y, s, **kw)


def _style(ax, *, labels: list[str]) -> None:
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_color(MUTED)
    ax.set_xticks([])
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=17, fontfamily=FONT, color=INK)
    ax.tick_params(axis="y", length=0, pad=8)
    ax.invert_yaxis()


def _bars(ax, bars: list[Bar], title: str) -> None:
    """Pairs of horizontal bars (pipeline above expected value), each with its value."""
    labels = [b.label for b in bars]
    _style(ax, labels=labels)
    top = max([b.pipeline for b in bars] + [b.expected for b in bars] + [1.0])
    height = 0.38
    for i, b in enumerate(bars):
        for offset, value, colour in (
            (-height / 2, b.pipeline, PIPELINE),
            (height / 2, b.expected, EXPECTED),
        ):
            ax.barh(i + offset, value, height=height * 0.95, color=colour)
            ax.text(
                value + top * 0.015,
                i + offset,
                money(value),
                va="center",
                ha="left",
                fontsize=15,
                fontfamily=FONT,
                color=INK,
                fontweight="bold",
                parse_math=False,
            )
    ax.set_xlim(0, top * 1.28)  # room for the value labels
    ax.set_ylim(len(bars) - 0.5, -0.5)
    ax.set_title(title, loc="left", fontsize=19, fontfamily=FONT, color=INK, fontweight="bold")


def _heading(fig: Figure, title: str, subtitle: str, *, top: float) -> None:
    """The title, then the key in words and colour (no legend box to look for)."""
    height = fig.get_figheight()
    _text(fig, 0.03, top, title, fontsize=24, fontweight="bold", va="top")
    y = top - 0.48 / height
    _text(
        fig, 0.03, y, "■ Pipeline (ARR)", fontsize=17, color=PIPELINE, fontweight="bold", va="top"
    )
    _text(
        fig, 0.38, y, "■ Expected value", fontsize=17, color=EXPECTED, fontweight="bold", va="top"
    )
    if subtitle:
        _text(fig, 0.03, y - 0.4 / height, subtitle, fontsize=15, color=MUTED, va="top")


def render_pipeline(data: ChartData) -> bytes:
    """Pipeline and expected value by tier (top) and by opportunity type (below), as PNG
    (800 px wide, about 1,000 px high)."""
    row, head, title, gap, foot = 0.58, 1.5, 0.55, 0.35, 0.15  # inches
    tier_h = row * max(len(data.by_tier), 1)
    type_h = row * max(len(data.by_type), 1)
    height = head + title + tier_h + gap + title + type_h + foot
    fig, _ = _figure(height)
    _heading(fig, "Expansion pipeline", data.subtitle, top=1 - 0.2 / height)
    left, width = 0.36, 0.6
    tier_bottom = height - head - title - tier_h
    ax_tier = fig.add_axes((left, tier_bottom / height, width, tier_h / height))
    _bars(ax_tier, data.by_tier, "By tier")
    ax_type = fig.add_axes((left, foot / height, width, type_h / height))
    if data.by_type:
        _bars(ax_type, data.by_type, "By opportunity type")
    else:
        ax_type.set_axis_off()
        _text(ax_type, 0, 0.5, "No open opportunities", fontsize=17, color=MUTED)
    return _png(fig)


def render_trend(points: list[Point], *, subtitle: str = "") -> bytes:
    """Tier 1 pipeline over the last digests (oldest left), each point with its value, as PNG
    (800 x 450 px)."""
    points = points[-TREND_POINTS:]
    fig, _ = _figure(4.5)
    _text(
        fig,
        0.03,
        0.96,
        "Tier 1 pipeline, digest by digest",
        fontsize=22,
        fontweight="bold",
        va="top",
    )
    _text(
        fig,
        0.03,
        0.86,
        subtitle or "ARR of the open Tier 1 plays",
        fontsize=15,
        color=MUTED,
        va="top",
    )
    ax = fig.add_axes((0.05, 0.17, 0.9, 0.6))
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color(MUTED)
    ax.set_yticks([])
    xs = list(range(len(points)))
    values = [p.pipeline for p in points]
    top = max([*values, 1.0])
    if points:
        ax.plot(xs, values, color=PIPELINE, linewidth=3, marker="o", markersize=9)
        # Every point says its value; with many points only every other one, and the last.
        step = 1 if len(points) <= 6 else 2
        for i, (x, v) in enumerate(zip(xs, values, strict=True)):
            if i % step == (len(points) - 1) % step:
                ax.annotate(
                    money(v),
                    (x, v),
                    xytext=(0, 12),
                    textcoords="offset points",
                    ha="center",
                    fontsize=15,
                    fontweight="bold",
                    fontfamily=FONT,
                    color=INK,
                    parse_math=False,
                )
        ax.set_xticks(xs)
        ax.set_xticklabels(
            [p.label if i % step == (len(points) - 1) % step else "" for i, p in enumerate(points)],
            fontsize=14,
            fontfamily=FONT,
            color=INK,
        )
        ax.tick_params(axis="x", length=0, pad=6)
        ax.set_xlim(-0.5, max(len(points) - 0.5, 1.5))
    else:
        _text(ax, 0.5, 0.5, "No digest yet", fontsize=17, color=MUTED, ha="center")
    ax.set_ylim(0, top * 1.3 if math.isfinite(top) else 1)
    return _png(fig)
