"""Close probability calibrated from decided outcomes (won and lost), seed 000's bands the prior.

Per opportunity type, the seed bands predicted some mean probability ``m`` for the deals that
were decided; ``n`` were decided, ``w`` won. A beta-binomial update with the seed as a prior worth
``prior_strength`` outcomes gives the type's calibrated win rate::

    rate = (prior_strength * m + w) / (prior_strength + n)

and the type's band moves by ``rate - m`` (clipped to 1-99 %): the data's weight,
``n / (prior_strength + n)``, grows with its count. Below ``minimum`` decided outcomes in all
(default 20) the seed bands are used unchanged and the result says "uncalibrated". Snoozed and
not-a-fit are not losses (they are not decided); outcomes decided more than ``window_days``
(365) before the as-of date are left out, so a calibration is reproducible as of a date.

See docs/methodology.md ("How close probability learns").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .config import ScoringConfig

DEFAULT_MINIMUM = 20
DEFAULT_PRIOR_STRENGTH = 20.0
WINDOW_DAYS = 365
DECIDED = ("won", "lost")
#: Probability bands of the calibration report.
REPORT_BANDS = [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0001]


@dataclass(frozen=True)
class Calibration:
    """The close-probability bands in force and where they came from."""

    calibrated: bool
    decided: int
    minimum: int
    bands: dict[str, list[float]]
    by_type: pd.DataFrame = field(repr=False)
    stale: int = 0

    def note(self) -> str:
        """One line for explanations and reports."""
        if self.calibrated:
            return f"close probability calibrated from {self.decided} decided outcomes"
        return (
            f"close probability from seed bands (uncalibrated: {self.decided} decided outcomes, "
            f"{self.minimum} needed)"
        )

    def apply(self, cfg: ScoringConfig) -> ScoringConfig:
        """``cfg`` with the calibrated bands and the note the explanations carry; ``cfg``
        itself when there are no outcomes at all (the seed's output unchanged)."""
        if self.decided == 0:
            return cfg
        return replace(cfg, close_probability=self.bands, close_probability_basis=self.note())


def type_of(opportunity_ids: pd.Series, types: list[str]) -> pd.Series:
    """The opportunity type inside ids of the form ``<account>-<type>-<n>``."""
    pattern = r"-(" + "|".join(sorted(types, key=len, reverse=True)) + r")-\d+$"
    return opportunity_ids.astype(str).str.extract(pattern, expand=False)


def decided_outcomes(
    engine: sa.Engine, *, as_of: date, cfg: ScoringConfig, until: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Won and lost opportunities decided in the ``WINDOW_DAYS`` before ``as_of`` (and not
    after ``until``, UTC): opportunity id, type, won (bool), predicted close probability,
    decided at."""
    from .store import OpportunityState

    states = OpportunityState.__table__
    start = pd.Timestamp(as_of) - pd.Timedelta(days=WINDOW_DAYS)
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    if until is not None:
        until = pd.Timestamp(until)
        end = min(end, until.tz_convert(None) if until.tzinfo else until)
    query = sa.select(
        states.c.opportunity_id,
        states.c.outcome,
        states.c.predicted_close_probability,
        states.c.outcome_at,
    ).where(states.c.outcome.in_(DECIDED))
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    at = pd.to_datetime(frame["outcome_at"], utc=True).dt.tz_localize(None)
    frame = frame[(at >= start) & (at <= end)]
    frame = frame.assign(
        type=type_of(frame["opportunity_id"], list(cfg.close_probability)),
        won=frame["outcome"] == "won",
    )
    return frame.dropna(subset=["type"]).reset_index(drop=True)


def calibrate(
    outcomes: pd.DataFrame,
    cfg: ScoringConfig,
    *,
    minimum: int | None = None,
    prior_strength: float | None = None,
    stale: int = 0,
) -> Calibration:
    """Calibrated bands from ``outcomes`` (columns type, won, predicted_close_probability);
    ``minimum`` and ``prior_strength`` default to the configuration's."""
    minimum = cfg.calibration_min_outcomes if minimum is None else minimum
    prior_strength = cfg.calibration_prior_strength if prior_strength is None else prior_strength
    seed = pd.DataFrame(cfg.close_probability, index=["low", "high"]).T
    mid = (seed["low"] + seed["high"]) / 2
    o = outcomes[outcomes["type"].isin(seed.index)]
    predicted = o["predicted_close_probability"].astype(float)
    predicted = predicted.fillna(o["type"].map(mid))
    grouped = (
        o.assign(predicted=predicted, won=o["won"].astype(float))
        .groupby("type")
        .agg(count=("won", "size"), wins=("won", "sum"), predicted=("predicted", "mean"))
        .reindex(seed.index)
    )
    grouped["count"] = grouped["count"].fillna(0).astype(int)
    grouped["wins"] = grouped["wins"].fillna(0.0)
    grouped["predicted"] = grouped["predicted"].fillna(mid)
    grouped["actual"] = grouped["wins"] / grouped["count"].where(grouped["count"] > 0)
    grouped["weight"] = grouped["count"] / (prior_strength + grouped["count"])
    grouped["rate"] = (prior_strength * grouped["predicted"] + grouped["wins"]) / (
        prior_strength + grouped["count"]
    )
    decided = int(grouped["count"].sum())
    calibrated = decided >= minimum
    shift = (grouped["rate"] - grouped["predicted"]) if calibrated else grouped["rate"] * 0
    low = (seed["low"] + shift).clip(0.01, 0.99).round(3)
    high = (seed["high"] + shift).clip(0.01, 0.99).round(3)
    grouped["low"], grouped["high"] = low, high
    bands = {t: [float(low[t]), float(high[t])] for t in seed.index}
    if not calibrated:
        bands = {t: list(v) for t, v in cfg.close_probability.items()}
    return Calibration(
        calibrated=calibrated,
        decided=decided,
        minimum=minimum,
        bands=bands,
        by_type=grouped.reset_index(names="type"),
        stale=stale,
    )


def shifted(predicted: pd.Series, types: pd.Series, calibration: Calibration, cfg: ScoringConfig):
    """What the calibrated bands say for deals the seed bands gave ``predicted``: the same
    position within the type's band, moved with it."""
    seed_low = types.map({k: v[0] for k, v in cfg.close_probability.items()})
    new_low = types.map({k: v[0] for k, v in calibration.bands.items()})
    return (predicted + (new_low - seed_low)).clip(0.0, 1.0)


def brier(predicted: pd.Series, won: pd.Series) -> float:
    """Mean squared error of probabilities against outcomes (0 perfect, 0.25 a coin's)."""
    if len(predicted) == 0:
        return float("nan")
    return float(np.mean((predicted.astype(float) - won.astype(float)) ** 2))


def report(outcomes: pd.DataFrame, calibration: Calibration, cfg: ScoringConfig) -> pd.DataFrame:
    """Per close-probability band and type: count, predicted vs actual win rate and Brier
    score of the seed bands and of the calibrated ones (on the same outcomes)."""
    if outcomes.empty:
        return pd.DataFrame(
            columns=["band", "type", "count", "predicted", "actual", "brier_seed", "brier"]
        )
    o = outcomes.copy()
    o["predicted"] = o["predicted_close_probability"].astype(float)
    o["calibrated"] = shifted(o["predicted"], o["type"], calibration, cfg)
    o["band"] = pd.cut(o["predicted"], REPORT_BANDS, right=False).astype(str)
    o["won"] = o["won"].astype(float)
    o["err_seed"] = (o["predicted"] - o["won"]) ** 2
    o["err"] = (o["calibrated"] - o["won"]) ** 2
    return (
        o.groupby(["band", "type"], observed=True)
        .agg(
            count=("won", "size"),
            predicted=("predicted", "mean"),
            actual=("won", "mean"),
            brier_seed=("err_seed", "mean"),
            brier=("err", "mean"),
        )
        .reset_index()
    )


def last_sync_at(engine: sa.Engine) -> pd.Timestamp | None:
    """When the latest successful sync finished (UTC), or ``None``."""
    from .store import SyncRun

    runs = SyncRun.__table__
    with engine.connect() as conn:
        at = conn.execute(
            sa.select(sa.func.max(runs.c.finished_at)).where(runs.c.status == "succeeded")
        ).scalar()
    return None if at is None else pd.Timestamp(at)


def for_engine(engine: sa.Engine, cfg: ScoringConfig, *, as_of: date) -> Calibration:
    """The calibration of the outcomes stored in ``engine``: decided in the 12 months before
    ``as_of`` and before the latest sync finished (so a click does not re-score the book: the
    next sync takes it in); stale CRM records (open 90 days past their close date) counted
    for the report."""
    from .store import CrmRecord

    outcomes = decided_outcomes(engine, as_of=as_of, cfg=cfg, until=last_sync_at(engine))
    table = CrmRecord.__table__
    cutoff = as_of - timedelta(days=90)
    with engine.connect() as conn:
        stale = conn.execute(
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.c.close_date < cutoff, table.c.stage.is_not(None))
            .where(table.c.opportunity_id.not_in(outcomes["opportunity_id"].tolist() or [""]))
        ).scalar()
    return calibrate(outcomes, cfg, stale=int(stale or 0))


#: calibrated_config answers, by (database, as-of, configuration, latest sync, latest event).
_CACHE: dict[tuple, ScoringConfig] = {}
_CACHE_SIZE = 64


def calibrated_config(engine: sa.Engine, cfg: ScoringConfig, *, as_of: date) -> ScoringConfig:
    """``cfg`` with close probability calibrated from the stored outcomes (``cfg`` itself when
    none was decided, or when it is calibrated already). One small query when nothing changed
    since the last call (every scoring and every ``find`` asks)."""
    if cfg.close_probability_basis:
        return cfg
    from .store import OpportunityEvent, OpportunityState, SyncRun

    states, runs = OpportunityState.__table__, SyncRun.__table__
    events = OpportunityEvent.__table__
    with engine.connect() as conn:
        decided, synced, event = conn.execute(
            sa.select(
                sa.select(sa.func.count())
                .select_from(states)
                .where(states.c.outcome.in_(DECIDED))
                .scalar_subquery(),
                sa.select(sa.func.max(runs.c.finished_at))
                .where(runs.c.status == "succeeded")
                .scalar_subquery(),
                sa.select(sa.func.max(events.c.id)).scalar_subquery(),
            )
        ).one()
    if not decided:
        return cfg
    key = (str(engine.url), as_of, cfg.fingerprint, synced, event)
    found = _CACHE.get(key)
    if found is None:
        found = for_engine(engine, cfg, as_of=as_of).apply(cfg)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = found
    return found
