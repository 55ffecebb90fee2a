"""Every weight, threshold and band of the methodology, named once.

Defaults follow the source documents (seed 002's scoring tables and tiers, seed 000's
propensity factors and close-probability bands, seed 003's priorities). An ``expansion.toml``
can override any of them under ``[scoring]``::

    [scoring]
    tier_thresholds = [8.5, 6.5, 4.0, 2.0]
    [scoring.close_probability]
    seat_expansion = [0.55, 0.65]

Unknown keys are an error, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

from .errors import ConfigError

#: The engine's rules: change it with any change to what a scoring run produces from the same
#: data and configuration, so stored results scored by the old rules are not reused.
RULES_VERSION = "2026-12-07.asked.3"


def _default(value):
    return field(default_factory=lambda: value.copy() if hasattr(value, "copy") else value)


@dataclass(frozen=True)
class ScoringConfig:
    """All tunables of the engine. See ``docs/methodology.md`` for what each one does."""

    # --- composite and tiers (seed 002)
    weight_revenue: float = 0.40
    weight_effort: float = 0.30
    weight_likelihood: float = 0.30
    # Lower bounds of Tier 1, 2, 3 and 4; anything below the last is Tier 5.
    tier_thresholds: list[float] = _default([8.0, 6.0, 4.0, 2.0])

    # --- revenue potential: relative table (share of current ARR -> score) ...
    revenue_relative_bands: list[list[float]] = _default(
        [
            [1.00, 10],
            [0.50, 9],
            [0.37, 8],
            [0.25, 7],
            [0.17, 6],
            [0.10, 5],
            [0.07, 4],
            [0.05, 3],
            [0.025, 2],
            [0.0, 1],
        ]
    )
    # ... and absolute table (incremental ARR in dollars -> score), blended.
    revenue_absolute_bands: list[list[float]] = _default(
        [
            [150_000, 10],
            [100_000, 9],
            [50_000, 8],
            [25_000, 7],
            [15_000, 6],
            [10_000, 5],
            [5_000, 4],
            [2_500, 3],
            [1_000, 2],
            [0, 1],
        ]
    )
    revenue_absolute_weight: float = 0.65

    # --- effort (10 = self-serve, 1 = complex enterprise sale), baseline per type
    effort_baseline: dict[str, int] = _default(
        {
            "usage_expansion": 9,
            "seat_expansion": 8,
            "support_upgrade": 8,
            "professional_services": 7,
            "add_on": 6,
            "tier_upgrade": 6,
            "new_department": 5,
            "new_use_case": 5,
            "competitive_displacement": 3,
        }
    )
    effort_large_deal_arr: float = 50_000  # needs an AE and procurement: -1
    effort_very_large_deal_arr: float = 100_000  # executive buy-in: another -1
    effort_enterprise_penalty_types: list[str] = _default(
        ["tier_upgrade", "new_department", "new_use_case", "competitive_displacement"]
    )
    # Deal size against the account's footprint (share of current ARR -> effort points off):
    # doubling an account is never "a single conversation".
    effort_footprint_bands: list[list[float]] = _default([[1.0, 3], [0.5, 2], [0.25, 1]])
    effort_budgeted_max: float = 8  # a stated, budgeted ask: 1-2 meetings, not self-serve

    # --- propensity 0-100 (seed 000): factor weights sum to 1
    propensity_weights: dict[str, float] = _default(
        {"health": 0.30, "adoption": 0.20, "growth": 0.20, "engagement": 0.15, "budget": 0.15}
    )
    propensity_ready_health: float = 80  # health 80+ = ready
    propensity_mature_adoption: float = 60  # adoption > 60% = mature
    propensity_missing_value: float = 50  # a factor with no data counts as neutral

    # --- likelihood (1-10) from propensity plus trigger strength
    likelihood_trigger_bonus: dict[str, float] = _default(
        {
            "usage_ceiling": 1.5,
            "seat_ceiling": 1.5,  # seats at their ceiling are a usage ceiling (seed 002)
            "expansion_intent": 2.0,
            "limit_hit": 1.0,
            "feature_request": 1.0,
            "services_request": 1.0,
            "exec_engagement": 0.5,
            "projected_ceiling": 0.5,
        }
    )
    likelihood_renewal_window: float = 0.5  # renewal within 90 days: the timing is right
    likelihood_penalty: dict[str, float] = _default(
        {"partner": 1.0, "no_usage_data": 1.0, "recently_renewed": 1.0, "stale_signal": 0.5}
    )
    # Seed 002's likelihood table, per deal: where the evidence for this deal starts ...
    likelihood_levels: dict[str, float] = _default(
        {
            "ask_budget_timeline": 8.5,  # stated intent + budget + timeline: near-certain
            "ask_budget": 7.5,  # stated intent with a budget or a timeline
            "ask": 7.0,  # stated intent alone
            "strong": 6.5,  # a need visible in their usage or an explicit request
            "good": 5.5,  # good signals with unknowns (growth, initiatives, projections)
            "weak": 4.5,  # competitor in use, nothing stated
        }
    )
    # ... then moved by the relationship (account propensity 60 = neutral, +-1 per 40 points),
    likelihood_relationship_per_point: float = 1 / 40
    likelihood_relationship_range: list[float] = _default([-1.5, 1.0])
    likelihood_corroboration: float = 0.25  # each further independent signal, up to 2
    likelihood_exec_sponsor: float = 0.25
    likelihood_future_event: float = 1.5  # the office is not open, the hires have not started
    # 9-10 only with stated intent + budget + timeline for this deal (seed 002).
    likelihood_max_without_ask: float = 8.0

    # --- close probability bands by type (seed 000), position in band = propensity
    close_probability: dict[str, list[float]] = _default(
        {
            "seat_expansion": [0.60, 0.70],
            "usage_expansion": [0.60, 0.70],
            "tier_upgrade": [0.45, 0.55],
            "add_on": [0.35, 0.45],
            "new_use_case": [0.35, 0.45],
            "new_department": [0.40, 0.50],
            "professional_services": [0.50, 0.60],
            "support_upgrade": [0.45, 0.55],
            "competitive_displacement": [0.25, 0.35],
        }
    )

    # --- a deal the customer asked for is qualified pipeline, not a signal: its band is at
    # least this one (seed 002: "customer has expressed intent, budget exists, timeline is
    # clear" is near-certain), so an ask never reads as less likely than a guess of the same
    # account. Keyed by the deal's evidence level (scoring.evidence_level).
    close_probability_asked: dict[str, list[float]] = _default(
        {
            "ask_budget_timeline": [0.70, 0.80],
            "ask_budget": [0.60, 0.70],
            "ask": [0.50, 0.60],
        }
    )

    # --- calibration from decided outcomes (expansion.calibration): below this many won + lost
    # outcomes the seed bands above are used ("uncalibrated"); the seed counts as this many
    # outcomes of prior evidence per type.
    calibration_min_outcomes: int = 20
    calibration_prior_strength: float = 20.0
    # Set by the calibration, not by hand: which close probability the explanations say was
    # used ("calibrated from 42 decided outcomes"); empty when no outcome was ever decided.
    close_probability_basis: str = ""

    # --- triggers (seed 002's seven categories)
    usage_ceiling_pct: float = 80.0  # usage at >= 80% of a limit: the strongest trigger
    seat_target_utilization: float = 0.85  # seats proposed so the grown team sits at 85%
    seat_min_add: int = 3
    growth_pct_threshold: float = 15.0  # headcount growth that counts as "growing"
    growth_min_seat_utilization: float = 0.60  # below this, growth is an activation play
    trend_periods: int = 6  # usage trend over the last N periods
    projection_horizon_months: float = 12.0  # when there is no renewal date
    department_min_headcount: int = 5
    # Share of a team expected to take seats when nothing tells the account's own penetration
    # (seats / employees, or seats / headcount of the departments that use the product).
    department_seat_share: float = 0.6
    # An unstated deal above this share of the current footprint (seats for seat deals, ARR for
    # others) is flagged "confirm with the customer" and is never high confidence.
    oversize_share: float = 0.5
    support_ticket_threshold: int = 20  # tickets in 90 days that justify premium support
    signal_lookback_days: int = 180  # older signals are shown but do not trigger
    fallback_cross_sell_share: float = 0.15  # of ARR, when the catalog has no matching product
    # Deals below the floor (the larger of the two) are self-serve / automatic: never Tier 1-2.
    small_deal_floor_arr: float = 1_000
    small_deal_floor_share: float = 0.01
    request_window_days: int = 60  # explicit requests and active initiatives: pitch within

    # --- guards
    unhealthy_health_score: float = 50.0
    declining_usage_pct: float = -20.0
    recently_renewed_days: int = 60
    recently_renewed_max_tier: int = 2
    activation_max_seat_utilization: float = 0.50
    activation_max_adoption_pct: float = 30.0
    churn_probability_unhealthy: float = 0.35  # share of stabilize-first ARR at risk (NRR view)
    base_churn_rate: float = 0.05  # yearly churn of the rest of the book (NRR view)

    # --- priority (seed 003) and portfolio view
    priority_high_health: float = 70.0
    ae_threshold_arr: float = 50_000  # AE involved above this expansion ARR (seed 001)
    hours_by_effort: list[list[float]] = _default([[9, 2], [7, 4], [5, 10], [3, 20], [1, 40]])
    # Days from the best time to pitch to the close, by effort score (NRR timing).
    close_cycle_days_by_effort: list[list[float]] = _default(
        [[9, 14], [7, 30], [5, 45], [3, 75], [1, 120]]
    )
    tier1_top_n: int = 25

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def fingerprint(self) -> str:
        """Short hash of the configuration and the engine's rules version; results scored
        with another configuration, or by other rules, are stale."""
        text = json.dumps({"rules": RULES_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def validate(self) -> ScoringConfig:
        """Raise :class:`ConfigError` when values cannot work together."""
        weights = self.weight_revenue + self.weight_effort + self.weight_likelihood
        if abs(weights - 1.0) > 1e-6:
            raise ConfigError(f"scoring weights must add up to 1.0, they add up to {weights:g}")
        t = self.tier_thresholds
        if len(t) != 4 or any(a <= b for a, b in pairwise(t)):
            raise ConfigError(
                f"tier_thresholds must be four decreasing scores (Tier 1..4 minimums), got {t}"
            )
        for table in ("close_probability", "close_probability_asked"):
            for kind, band in getattr(self, table).items():
                if len(band) != 2 or not 0 <= band[0] <= band[1] <= 1:
                    raise ConfigError(f"{table}.{kind} must be [low, high] within 0-1, got {band}")
        if self.calibration_min_outcomes < 1 or self.calibration_prior_strength <= 0:
            raise ConfigError(
                "calibration_min_outcomes must be at least 1 and calibration_prior_strength above 0"
            )
        if abs(sum(self.propensity_weights.values()) - 1.0) > 1e-6:
            raise ConfigError("propensity_weights must add up to 1.0")
        return self


DEFAULT_CONFIG = ScoringConfig()


def read_settings_file(path: str | Path | None = None) -> tuple[Path | None, dict[str, Any]]:
    """The ``expansion.toml`` in force and its tables: ``path``, else ``$EXPANSION_CONFIG``,
    else ``./expansion.toml`` when it exists; ``(None, {})`` when there is none.

    Raises:
        ConfigError: the file is missing or not TOML.
    """
    if path is None:
        path = os.environ.get("EXPANSION_CONFIG") or (
            "expansion.toml" if Path("expansion.toml").exists() else None
        )
    if path is None:
        return None, {}
    path = Path(path)
    try:
        return path, tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: configuration file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def load_config(path: str | Path | None = None) -> ScoringConfig:
    """Defaults, overridden by ``[scoring]`` in the settings file (:func:`read_settings_file`)."""
    found, data = read_settings_file(path)
    if found is None:
        return DEFAULT_CONFIG
    return config_from_mapping(data.get("scoring", {}), origin=str(found))


def config_from_mapping(overrides: dict[str, Any], *, origin: str = "config") -> ScoringConfig:
    """Apply ``overrides`` on top of the defaults, refusing unknown keys."""
    known = {f.name: f for f in fields(ScoringConfig)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "close_probability_basis":
            raise ConfigError(
                f"{origin}: scoring.close_probability_basis is set by the calibration from "
                "outcomes, not by hand; remove it"
            )
        if key not in known:
            raise ConfigError(
                f"{origin}: unknown scoring setting '{key}'. Known settings: "
                + ", ".join(sorted(known))
            )
        default = getattr(DEFAULT_CONFIG, key)
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{origin}: scoring.{key} must be a table")
            unknown = set(value) - set(default)
            if unknown:
                raise ConfigError(
                    f"{origin}: scoring.{key} has unknown keys {sorted(unknown)}; "
                    f"known: {sorted(default)}"
                )
            value = {**default, **value}
        elif isinstance(default, (int, float)) and not isinstance(value, (int, float)):
            raise ConfigError(f"{origin}: scoring.{key} must be a number, got {value!r}")
        changes[key] = value
    return replace(DEFAULT_CONFIG, **changes).validate()
