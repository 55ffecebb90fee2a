"""Seed 002's seven trigger categories, each turning evidence into candidate opportunities.

Every trigger returns rows of one shape (:data:`CANDIDATE_COLUMNS`): the account, the thing to
sell (``key``: a product id, ``seats``, ``dept:<name>``...), the opportunity type, the
incremental ARR with how it was priced, and one evidence sentence that quotes the numbers.
:func:`merge_candidates` then folds rows about the same account and key into one opportunity,
keeping the type of the strongest trigger and every evidence line.

The loops in this module run over catalog products and keywords (a handful), never over accounts.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .config import ScoringConfig
from .frames import join_groups, per_distinct
from .numbers import count_series, money_series
from .profile import DAYS_PER_MONTH, metric_label

CANDIDATE_COLUMNS = [
    "account_id",
    "key",
    "type",
    "product_id",
    "category",
    "trigger",
    "strength",
    "expansion_arr",
    "quantity",
    "pricing",
    "evidence",
    "sizing",
    "department",
    "basis",
    "stated",
    "future",
    "event_date",
    "budget",
    "timeline",
]

#: How an amount was priced, best first: from the catalog (or the customer's stated quantity
#: at catalog prices), the customer's own stated budget, the account's own ARR per seat, or an
#: estimate (a share of ARR, a guessed head count). An estimate is never shown as a quote.
PRICE_BASES = ("catalog", "stated_budget", "account_rate", "estimate")
BASIS_RANK = {basis: rank for rank, basis in enumerate(PRICE_BASES)}

CATEGORIES = {
    "usage_limits": "Usage approaching limits",
    "feature_gap": "Feature gaps",
    "department": "Department expansion",
    "company_growth": "Company growth",
    "initiative": "Strategic initiatives",
    "competitive": "Competitive displacement",
    "services": "Services and support",
}

# Which trigger decides an opportunity's type when several point at the same thing.
TRIGGER_STRENGTH = {
    "usage_ceiling": 10,
    "seat_ceiling": 10,
    "limit_hit": 9,
    "feature_request": 8,
    "gated_feature": 7,
    "new_department_signal": 7,
    "projected_ceiling": 6,
    "new_office": 5,
    "empty_department": 4,  # a department row backs a signal: its line comes after
    "headcount_growth": 5,
    "initiative": 5,
    "competitor": 4,
    "services_request": 4,
    "support_load": 3,
    "hiring": 5,
    "stated_ask": 12,
}
# Triggers strong enough to keep Tier 1 for an account that renewed recently (seed 002).
STRONG_TRIGGERS = frozenset({"usage_ceiling", "seat_ceiling", "limit_hit", "new_department_signal"})

KIND_TO_TYPE = {
    "tier": "tier_upgrade",
    "add_on": "add_on",
    "usage": "usage_expansion",
    "services": "professional_services",
    "support": "support_upgrade",
}


#: Exact money (``$12,345``) and whole counts (``1,961,954``) in evidence sentences: the shared
#: number style of :mod:`expansion.numbers`.
money = money_series
whole = count_series


def _int(values: pd.Series) -> pd.Series:
    """Whole numbers as text, in the shared style (``1,200``)."""
    return count_series(values)


def _pct(values: pd.Series) -> pd.Series:
    return values.round().astype("Int64").astype(str) + "%"


def _date(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%d").fillna("undated")


_FRAME_DEFAULTS = {
    "sizing": "",
    "basis": "catalog",
    "stated": False,
    "future": False,
    "event_date": pd.NaT,
    "budget": np.nan,
    "timeline": False,
}


def _frame(base: pd.DataFrame, **columns) -> pd.DataFrame:
    out = pd.DataFrame(index=base.index)
    for name in CANDIDATE_COLUMNS:
        if name in columns:
            value = columns[name]
        elif name in _FRAME_DEFAULTS:
            value = _FRAME_DEFAULTS[name]
        else:
            value = base.get(name)
        out[name] = value
    out["strength"] = out["trigger"].map(TRIGGER_STRENGTH)
    out["event_date"] = pd.to_datetime(out["event_date"])
    out["budget"] = out["budget"].astype(float)
    return out.reset_index(drop=True)


class Catalog:
    """Lookups over the (small) product catalog, prepared once per scoring run."""

    def __init__(self, catalog: pd.DataFrame, subscriptions: pd.DataFrame, profiles: pd.DataFrame):
        c = catalog.copy()
        c["product_id"] = c["product_id"].astype(str)
        c["kind"] = c["kind"].fillna("add_on")
        self.products = c.set_index("product_id", drop=False)
        tiers = c[c["kind"] == "tier"].dropna(subset=["tier_rank"]).sort_values("tier_rank")
        self.tiers = tiers
        self.has_catalog = not c.empty
        usage = c[(c["kind"] == "usage") & c["unit"].notna()]
        self.usage_product_by_unit = dict(
            zip(usage["unit"].astype(str).str.lower(), usage["product_id"], strict=True)
        )

        # Each account's current tier: plan name/id, else a tier it subscribes to.
        plan = profiles["plan"].fillna("").str.strip().str.lower()
        by_id = {pid.lower(): pid for pid in tiers["product_id"]}
        by_name = {
            str(n).lower(): pid for pid, n in zip(tiers["product_id"], tiers["name"], strict=True)
        }
        current = per_distinct(  # a few plans over every account
            plan,
            lambda distinct: distinct.map(lambda v: by_id.get(v) or by_name.get(v)),
            dtype="str",
        )
        subs = subscriptions.merge(tiers[["product_id", "tier_rank"]], on="product_id")
        sub_tier = subs.sort_values("tier_rank").drop_duplicates("account_id", keep="last")
        current = current.fillna(
            sub_tier.set_index("account_id")["product_id"].reindex(profiles.index)
        )
        self.current_tier = current
        rank = current.map(tiers.set_index("product_id")["tier_rank"]).astype(float)
        self.current_rank = rank
        ranks = tiers["tier_rank"].to_numpy(dtype=float)
        ids = tiers["product_id"].to_numpy()
        position = np.searchsorted(ranks, rank.fillna(np.inf).to_numpy(), side="right")
        has_next = (position < len(ranks)) & rank.notna().to_numpy()
        self.next_tier = pd.Series(
            np.where(
                has_next,
                ids[np.minimum(position, max(len(ids) - 1, 0))] if len(ids) else None,
                None,
            ),
            index=profiles.index,
            dtype=object,
        )

        seat_price = current.map(tiers.set_index("product_id")["price_per_seat"]).astype(float)
        own_price = profiles["arr"] / profiles["licensed_seats"].where(
            profiles["licensed_seats"] > 0
        )
        self.seat_price_from_catalog = seat_price.notna()
        self.seat_price = seat_price.fillna(own_price)

        # What each account already owns: subscribed products plus features of its tier
        # and of the tiers below it.
        self.owned = subscriptions[["account_id", "product_id"]].astype({"product_id": str})
        features = c.assign(feature=c["features"].fillna("").str.split(";")).explode("feature")
        features["feature"] = features["feature"].str.strip().str.lower()
        self.features = features[features["feature"] != ""][
            ["product_id", "kind", "tier_rank", "feature"]
        ]
        solves = c.assign(keyword=c["solves"].fillna("").str.split(";")).explode("keyword")
        solves["keyword"] = solves["keyword"].str.strip().str.lower()
        keywords = pd.concat(
            [
                solves[solves["keyword"] != ""][["product_id", "keyword"]],
                self.features.assign(keyword=self.features["feature"].str.replace("_", " "))[
                    ["product_id", "keyword"]
                ],
            ]
        ).drop_duplicates()
        # Longer keywords first, so "data warehouse" wins over "data".
        self.keywords = keywords.assign(length=keywords["keyword"].str.len()).sort_values(
            ["length", "product_id"], ascending=[False, True]
        )

    def price(self, product_ids: pd.Series, seats: pd.Series) -> pd.Series:
        """Annual list price of ``product_ids`` for ``seats`` seats (flat price if per-seat is absent)."""
        per_seat = product_ids.map(self.products["price_per_seat"]).astype(float)
        flat = product_ids.map(self.products["annual_price"]).astype(float)
        return (per_seat * seats).fillna(flat)

    def tier_difference(
        self, account_ids: pd.Series, target: pd.Series, seats: pd.Series
    ) -> pd.Series:
        """Incremental ARR of moving from the current tier to ``target`` at ``seats`` seats."""
        now = self._tier_now(account_ids)
        return self.price(target, seats) - self.price(now, seats).fillna(0)

    def _tier_now(self, account_ids: pd.Series) -> pd.Series:
        """Each account's current tier, aligned with ``account_ids``."""
        return pd.Series(self.current_tier.reindex(account_ids).to_numpy(), index=account_ids.index)

    def tier_pricing(
        self, account_ids: pd.Series, target: pd.Series, seats: pd.Series
    ) -> pd.Series:
        """How :meth:`tier_difference` was reached, for the deal's pricing line: "catalog:
        Enterprise $840 - Professional $480 per seat per year x 400 seats" when both tiers are
        priced per seat, else the plain rule."""
        now = self._tier_now(account_ids)
        to_price = target.map(self.products["price_per_seat"]).astype(float)
        now_price = now.map(self.products["price_per_seat"]).astype(float)
        name = self.products["name"].astype(str)
        per_seat = to_price.notna() & now_price.notna() & (seats > 0)
        detail = (
            "catalog: "
            + target.map(name).fillna(target.astype(str))
            + " "
            + money(to_price.fillna(0))
            + " - "
            + now.map(name).fillna(now.astype(str))
            + " "
            + money(now_price.fillna(0))
            + " per seat per year x "
            + whole(seats.fillna(0))
            + " seats"
        )
        return detail.where(per_seat, "catalog: tier price difference at current seats")

    def match(self, text: pd.Series, kinds: tuple[str, ...] | None = None) -> pd.Series:
        """First product whose keyword appears in each text (NaN where none does)."""
        keywords = self.keywords
        if kinds is not None:
            keywords = keywords[keywords["product_id"].map(self.products["kind"]).isin(kinds)]

        def first_product(distinct: pd.Series) -> np.ndarray:
            # Each keyword is looked for only in the texts no earlier keyword matched.
            todo = distinct.fillna("").str.lower()
            found = np.full(len(distinct), None, dtype=object)
            for keyword, product in zip(keywords["keyword"], keywords["product_id"], strict=True):
                if todo.empty:
                    break
                hit = todo.str.contains(keyword, regex=False).to_numpy(dtype=bool)
                found[todo.index[hit]] = product
                todo = todo[~hit]
            return found

        return per_distinct(text.astype(object), first_product).astype(object)

    def owns(self, account_ids: pd.Series, product_ids: pd.Series) -> pd.Series:
        """Whether each account already has each product (subscribed, or a tier at/below theirs)."""
        pairs = pd.DataFrame({"account_id": account_ids, "product_id": product_ids})
        subscribed = pairs.merge(
            self.owned.assign(_owned=True), how="left", on=["account_id", "product_id"]
        )
        subscribed = subscribed["_owned"].fillna(False).astype(bool).to_numpy()
        rank = product_ids.map(self.tiers.set_index("product_id")["tier_rank"]).astype(float)
        current = account_ids.map(self.current_rank).astype(float)
        included = (rank <= current).fillna(False).to_numpy()
        return pd.Series(subscribed | included, index=account_ids.index)


# --------------------------------------------------------------------------- 1. usage limits


def usage_limit_triggers(
    p: pd.DataFrame, metrics: pd.DataFrame, signals: pd.DataFrame, cat: Catalog, cfg: ScoringConfig
) -> pd.DataFrame:
    """Seats and metered limits at >= 80%, trends projected to hit a limit, and limit_hit signals."""
    parts = [_seat_ceiling(p, cat, cfg)]
    m = metrics[metrics["metric"].str.lower() != "seats"].merge(
        p[["renewal_date", "arr", "licensed_seats"]], left_on="account_id", right_index=True
    )
    ceiling = m["util_pct"] >= cfg.usage_ceiling_pct
    horizon = m["renewal_date"].fillna(
        pd.Timestamp.now().normalize() + pd.Timedelta(days=365 * 100)
    )
    horizon_cap = m["period"].max() + pd.Timedelta(
        days=cfg.projection_horizon_months * DAYS_PER_MONTH
    )
    horizon = horizon.where(m["renewal_date"].notna(), horizon_cap)
    projected = ~ceiling & m["months_to_limit"].notna() & (m["projected_date"] <= horizon)
    for mask, trigger in ((ceiling, "usage_ceiling"), (projected, "projected_ceiling")):
        rows = m[mask]
        if rows.empty:
            continue
        parts.append(_metric_candidates(rows, trigger, cat, cfg))
    parts.append(_limit_hit(p, metrics, signals, cat, cfg))
    return (
        pd.concat([x for x in parts if len(x)], ignore_index=True)
        if any(len(x) for x in parts)
        else empty_candidates()
    )


def _ceiling_seats(rows: pd.DataFrame, cfg: ScoringConfig) -> tuple[pd.Series, pd.Series]:
    """Seats that leave today's active users, grown with the company, at the target
    utilisation (at least ``seat_min_add``), and how that number was reached, for the deal's
    pricing line ("1,164 active, +18% headcount, at 85% use = 1,616 seats needed")."""
    growth_pct = rows["employee_growth_pct"].fillna(0).clip(0, 50)
    needed = np.ceil(rows["active_seats"] * (1 + growth_pct / 100) / cfg.seat_target_utilization)
    seats = np.maximum(needed - rows["licensed_seats"], cfg.seat_min_add)
    grown = pd.Series(
        np.where(growth_pct > 0, ", +" + _pct(growth_pct) + " headcount", ""), index=rows.index
    )
    how = (
        whole(rows["active_seats"])
        + " active"
        + grown
        + ", at "
        + f"{cfg.seat_target_utilization * 100:.0f}% use = "
        + whole(needed)
        + " seats needed"
    )
    how = how.where(
        needed - rows["licensed_seats"] >= cfg.seat_min_add,
        how + "; the minimum add is " + str(cfg.seat_min_add),
    )
    return seats, how


def _seat_ceiling(p: pd.DataFrame, cat: Catalog, cfg: ScoringConfig) -> pd.DataFrame:
    rows = p[(p["seat_utilization"] * 100 >= cfg.usage_ceiling_pct) & (p["licensed_seats"] > 0)]
    if rows.empty:
        return empty_candidates()
    seats, how = _ceiling_seats(rows, cfg)
    arr = seats * cat.seat_price.reindex(rows.index)
    evidence = (
        whole(rows["active_seats"])
        + " of "
        + whole(rows["licensed_seats"])
        + " licensed seats active ("
        + _pct(rows["seat_utilization"] * 100)
        + ")"
    )
    change = rows["active_seat_change_3p"]
    evidence = evidence.where(
        ~(change > 0), evidence + ", +" + _int(change.fillna(0)) + " active in the last quarter"
    )
    # Growth that sizes this deal but is below the threshold is said here; growth at or above
    # it has its own line (company growth), so it is not said twice.
    growth = rows["employee_growth_pct"]
    evidence = evidence.where(
        ~((growth > 0) & (growth < cfg.growth_pct_threshold)),
        evidence + ", headcount +" + _pct(growth.fillna(0)) + " in 12 months",
    )
    return _frame(
        rows,
        account_id=rows.index,
        key="seats",
        type="seat_expansion",
        product_id=cat.current_tier.reindex(rows.index),
        category="usage_limits",
        trigger="seat_ceiling",
        expansion_arr=arr,
        quantity=seats,
        pricing=_seat_pricing(rows.index, cat) + " x " + whole(seats) + " seats (" + how + ")",
        basis=_seat_basis(rows.index, cat),
        evidence=evidence,
    )


def _seat_basis(index: pd.Index, cat: Catalog) -> np.ndarray:
    from_catalog = cat.seat_price_from_catalog.reindex(index).fillna(False).to_numpy(dtype=bool)
    return np.where(from_catalog, "catalog", "account_rate")


def _seat_pricing(index: pd.Index, cat: Catalog) -> pd.Series:
    from_catalog = cat.seat_price_from_catalog.reindex(index).fillna(False)
    price = money(cat.seat_price.reindex(index).fillna(0))
    return pd.Series(
        np.where(
            from_catalog,
            "catalog: " + price + " per seat per year",
            "no catalog price for seats: the account's own ARR per seat (" + price + ")",
        ),
        index=index,
    )


def _usage_type(
    account_ids: pd.Series, metric: pd.Series, cat: Catalog
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(type, product, key) for more of ``metric``: a usage product, else the next tier."""
    usage_product = metric.str.lower().map(cat.usage_product_by_unit)
    next_tier = account_ids.map(cat.next_tier)
    is_usage = usage_product.notna() | next_tier.isna()
    kind = pd.Series(np.where(is_usage, "usage_expansion", "tier_upgrade"), index=metric.index)
    product = usage_product.where(is_usage, next_tier)
    key = ("metric:" + metric.str.lower()).where(is_usage, next_tier)
    return kind, product, key


def _metric_candidates(
    rows: pd.DataFrame,
    trigger: str,
    cat: Catalog,
    cfg: ScoringConfig,
    evidence: pd.Series | None = None,
) -> pd.DataFrame:
    """More of ``rows.metric`` (usage rows of :func:`usage_metrics` joined to the account):
    capacity for the grown usage at the target utilisation (at least +25% of the limit),
    priced at the usage product's unit price, or the next tier's price difference."""
    kind, product, key = _usage_type(rows["account_id"], rows["metric"], cat)
    growth = (rows["slope"].clip(lower=0) * 6 / rows["value"].where(rows["value"] > 0)).fillna(0)
    new_limit = np.maximum(
        rows["value"] * (1 + growth) / cfg.seat_target_utilization, rows["limit"] * 1.25
    )
    extra = new_limit - rows["limit"]
    unit_price = product.map(cat.products["unit_price"]).astype(float)
    usage_arr = extra * unit_price
    fallback = rows["arr"] * (extra / rows["limit"]) * 0.5
    tier_arr = cat.tier_difference(rows["account_id"], product, rows["licensed_seats"])
    arr = pd.Series(np.where(kind == "tier_upgrade", tier_arr, usage_arr), index=rows.index)
    priced = arr.notna() & (arr > 0)
    arr = arr.where(priced, fallback)
    pricing = pd.Series(
        np.where(
            kind == "tier_upgrade",
            cat.tier_pricing(rows["account_id"], product, rows["licensed_seats"]),
            "catalog: "
            + metric_label(rows["metric"])
            + " limit +"
            + whole(extra)
            + " a month at "
            + _unit_price(unit_price)
            + " a year",
        ),
        index=rows.index,
    ).where(
        priced,
        "estimate (no catalog price for more "
        + metric_label(rows["metric"])
        + "): half the account's ARR per unit of limit",
    )
    if evidence is None:
        util = (
            metric_label(rows["metric"])
            + " at "
            + _pct(rows["util_pct"])
            + " of the limit ("
            + whole(rows["value"])
            + " of "
            + whole(rows["limit"])
            + ")"
        )
        if trigger == "usage_ceiling":
            evidence = util.where(
                ~(rows["trend_pct"] > 0),
                util
                + ", up "
                + _pct(rows["trend_pct"].fillna(0))
                + " over "
                + _int(rows["periods"])
                + " months",
            )
        else:
            monthly = rows["slope"] / rows["limit"] * 100
            evidence = (
                util
                + ", growing "
                + monthly.round(1).astype(str)
                + " points/month: projected to hit the limit around "
                + rows["projected_date"].dt.strftime("%Y-%m-%d")
            )
            evidence = evidence.where(
                rows["renewal_date"].isna(),
                evidence
                + " (before the "
                + rows["renewal_date"].dt.strftime("%Y-%m-%d")
                + " renewal)",
            )
    return _frame(
        rows,
        key=key,
        type=kind,
        product_id=product,
        category="usage_limits",
        trigger=trigger,
        expansion_arr=arr,
        quantity=extra.where(kind == "usage_expansion"),
        pricing=pricing,
        basis=np.where(priced, "catalog", "estimate"),
        evidence=evidence,
    )


def _unit_price(price: pd.Series) -> pd.Series:
    """``$0.0005 per unit`` with as many decimals as the price needs."""
    return per_distinct(
        price.astype(float),
        lambda v: v.map(lambda x: f"${x:,.6f}".rstrip("0").rstrip(".") + " per unit"),
        dtype="str",
    )


def _limit_hit(
    p: pd.DataFrame, metrics: pd.DataFrame, signals: pd.DataFrame, cat: Catalog, cfg: ScoringConfig
) -> pd.DataFrame:
    """A limit the customer hit, resolved to what it is about: a usage metric (named in the
    text, or a usage product whose ``solves`` keywords it contains), seats, or a product (a
    tier or add-on whose keywords it contains). The same metric's ceiling and this limit are
    one need. A limit nothing names is the next tier's plan limits."""
    s = signals[signals["kind"] == "limit_hit"]
    if s.empty:
        return empty_candidates()
    s = s.merge(
        p[["arr", "licensed_seats", "active_seats", "employee_growth_pct"]],
        left_on="account_id",
        right_index=True,
    )
    detail = s["detail"].fillna("").str.lower()
    metric = pd.Series(None, index=s.index, dtype=object)
    for name in sorted(metrics["metric"].dropna().unique(), key=len, reverse=True):
        hit = metric.isna() & (
            detail.str.contains(str(name).lower().replace("_", " "), regex=False)
            | detail.str.contains(str(name).lower(), regex=False)
        )
        metric[hit] = name
    product = cat.match(detail)
    product_kind = product.map(cat.products["kind"])
    unit = product.map(cat.products["unit"]).where(product_kind == "usage")
    metric = metric.fillna(unit)
    # "Exceeded the API quota" names api_calls by its first word: a limit is about capacity, so
    # a metric's own word wins over an add-on whose keywords merely share it ("api").
    for name in sorted(metrics["metric"].dropna().unique(), key=len, reverse=True):
        word = str(name).lower().split("_")[0]
        if len(word) >= 3 and word != "seats":
            hit = metric.isna() & detail.str.contains(rf"\b{re.escape(word)}\b", regex=True)
            metric[hit] = name
    is_seats = metric.fillna("").str.lower().eq("seats") | (
        metric.isna() & detail.str.contains(r"\bseat", regex=True)
    )
    evidence = "Hit a plan limit on " + _date(s["date"]) + ": " + s["detail"].fillna("(no detail)")
    parts = []

    seats = s[is_seats]
    if len(seats):
        seats = seats.assign(active_seats=seats["active_seats"].fillna(seats["licensed_seats"]))
        quantity, how = _ceiling_seats(seats, cfg)
        accounts = pd.Index(seats["account_id"])
        parts.append(
            _frame(
                seats,
                key="seats",
                type="seat_expansion",
                product_id=seats["account_id"].map(cat.current_tier),
                category="usage_limits",
                trigger="limit_hit",
                expansion_arr=quantity * seats["account_id"].map(cat.seat_price),
                quantity=quantity,
                pricing=(
                    _seat_pricing(accounts, cat).to_numpy()
                    + " x "
                    + whole(quantity).to_numpy()
                    + " seats ("
                    + how.to_numpy()
                    + ")"
                ),
                basis=_seat_basis(accounts, cat),
                evidence=evidence[seats.index],
            )
        )

    # A metric the account reports usage for: priced like its ceiling (one need with it).
    with_metric = ~is_seats & metric.notna()
    on_metric = s[with_metric].assign(metric=metric[with_metric], hit_line=evidence[with_metric])
    rows = on_metric.merge(metrics, on=["account_id", "metric"], how="inner")
    if len(rows):
        text = (
            rows["hit_line"]
            + " ("
            + metric_label(rows["metric"])
            + " at "
            + _pct(rows["util_pct"])
            + " of the limit)"
        )
        parts.append(_metric_candidates(rows, "limit_hit", cat, cfg, evidence=text))
    resolved = pd.MultiIndex.from_frame(rows[["account_id", "metric"]]) if len(rows) else None
    unpriced = on_metric
    if resolved is not None:
        pairs = pd.MultiIndex.from_frame(on_metric[["account_id", "metric"]])
        unpriced = on_metric[~pairs.isin(resolved)]

    # A product the text names (a tier or an add-on) and not a metric: that product's need.
    naming = ~is_seats & metric.isna() & product.notna()
    owned = naming & cat.owns(s["account_id"], product.fillna(""))
    naming = naming & ~owned
    parts.append(
        _unowned_product_candidates(
            s[naming], product[naming], p, cat, cfg, "limit_hit", "usage_limits", evidence
        )
    )

    # No usage figures to size it, nothing named, or a limit of something they already own:
    # the next tier's limits, else an estimate.
    nothing = ~is_seats & metric.isna() & (product.isna() | owned)
    rest = pd.concat([x for x in (unpriced, s[nothing]) if len(x)]) if nothing.any() else unpriced
    if len(rest):
        what = rest["metric"].fillna("plan limits") if "metric" in rest else "plan limits"
        what = pd.Series(what, index=rest.index).astype(object)
        kind, product_id, key = _usage_type(rest["account_id"], what, cat)
        tier_arr = cat.tier_difference(rest["account_id"], product_id, rest["licensed_seats"])
        is_tier = (kind == "tier_upgrade") & tier_arr.notna() & (tier_arr > 0)
        fallback = rest["arr"] * cfg.fallback_cross_sell_share
        share = _pct(pd.Series(cfg.fallback_cross_sell_share * 100, index=rest.index))
        parts.append(
            _frame(
                rest,
                key=key.where(kind == "tier_upgrade", "metric:" + what.str.lower()),
                type=kind,
                product_id=product_id,
                category="usage_limits",
                trigger="limit_hit",
                expansion_arr=tier_arr.where(is_tier, fallback),
                quantity=np.nan,
                pricing=cat.tier_pricing(
                    rest["account_id"], product_id, rest["licensed_seats"]
                ).where(is_tier, "estimate (no usage figures to size it): " + share + " of ARR"),
                basis=np.where(is_tier, "catalog", "estimate"),
                evidence=evidence.reindex(rest.index).to_numpy(),
            )
        )
    parts = [x for x in parts if len(x)]
    return pd.concat(parts, ignore_index=True) if parts else empty_candidates()


# --------------------------------------------------------------------------- 2. feature gaps


def feature_gap_triggers(
    p: pd.DataFrame, features: pd.DataFrame, signals: pd.DataFrame, cat: Catalog, cfg: ScoringConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Requests for, and attempts to use, features a higher tier or an add-on unlocks.

    Returns (candidates, product gaps): requests that nothing in the catalog answers are
    product feedback, not opportunities.
    """
    parts = []
    req = signals[signals["kind"] == "feature_request"]
    product = cat.match(req["detail"].fillna("") + " " + req["department"].fillna(""))
    gaps = req[product.isna()][["account_id", "date", "detail"]]
    req = req[product.notna()]
    parts.append(
        _unowned_product_candidates(
            req,
            product[product.notna()],
            p,
            cat,
            cfg,
            "feature_request",
            "feature_gap",
            "Feature request " + _date(req["date"]) + ": " + req["detail"].fillna(""),
        )
    )
    # Tried a feature they are not entitled to (the product shows it behind a paywall).
    gated = features[
        ~features["entitled"].fillna(False).astype(bool)
        & (features["used"].fillna(False).astype(bool) | (features["adoption_pct"].fillna(0) > 0))
    ]
    if len(gated):
        unlock = (
            gated["feature"]
            .str.strip()
            .str.lower()
            .map(
                cat.features.sort_values(["kind", "tier_rank"])
                .drop_duplicates("feature")
                .set_index("feature")["product_id"]
            )
        )
        gated = gated.assign(product_id=unlock)[unlock.notna()]
        gated = gated[~cat.owns(gated["account_id"], gated["product_id"])]
        if len(gated):
            names = gated["product_id"].map(cat.products["name"])
            parts.append(
                _product_candidates(
                    gated,
                    p,
                    cat,
                    cfg,
                    trigger="gated_feature",
                    category="feature_gap",
                    evidence="Tried "
                    + gated["feature"]
                    + ", which their plan does not include (unlocked by "
                    + names
                    + ")",
                )
            )
    parts = [x for x in parts if len(x)]
    cands = pd.concat(parts, ignore_index=True) if parts else empty_candidates()
    return cands, gaps


def _unowned_product_candidates(
    rows: pd.DataFrame,
    product: pd.Series,
    p: pd.DataFrame,
    cat: Catalog,
    cfg: ScoringConfig,
    trigger: str,
    category: str,
    evidence: pd.Series,
) -> pd.DataFrame:
    """:func:`_product_candidates` for ``rows`` selling ``product`` (aligned on the rows), left
    out where the account already owns it."""
    rows = rows.assign(product_id=product)
    rows = rows[~cat.owns(rows["account_id"], rows["product_id"])]
    if rows.empty:
        return empty_candidates()
    return _product_candidates(
        rows, p, cat, cfg, trigger=trigger, category=category, evidence=evidence[rows.index]
    )


def _product_candidates(
    rows: pd.DataFrame,
    p: pd.DataFrame,
    cat: Catalog,
    cfg: ScoringConfig,
    *,
    trigger: str,
    category: str,
    evidence: pd.Series,
    amount: pd.Series | None = None,
    budget: pd.Series | None = None,
    **extra,
) -> pd.DataFrame:
    """Candidates selling ``rows.product_id`` (any kind) to ``rows.account_id``.

    ``amount``: a competitor's stated spend, which caps the price. ``budget``: the customer's
    stated budget for it, shown beside the catalog price (and the amount when there is none).
    """
    account = rows["account_id"]
    kind = rows["product_id"].map(cat.products["kind"])
    opp_type = kind.map(KIND_TO_TYPE).fillna("add_on")
    seats = account.map(p["licensed_seats"]).fillna(0)
    arr_now = account.map(p["arr"])
    list_price = cat.price(rows["product_id"], seats)
    tier_arr = cat.tier_difference(account, rows["product_id"], seats)
    arr = pd.Series(np.where(opp_type == "tier_upgrade", tier_arr, list_price), index=rows.index)
    priced = arr.notna() & (arr > 0)
    fallback = arr_now * cfg.fallback_cross_sell_share
    pricing = pd.Series(
        np.where(
            opp_type == "tier_upgrade",
            cat.tier_pricing(account, rows["product_id"], seats),
            "catalog list price",
        ),
        index=rows.index,
    ).where(
        priced,
        "estimate (no catalog price): "
        + str(round(cfg.fallback_cross_sell_share * 100))
        + "% of current ARR",
    )
    basis = pd.Series(np.where(priced, "catalog", "estimate"), index=rows.index)
    arr = arr.where(priced, fallback)
    if amount is not None:
        # A known competitor spend caps what the account will pay.
        has_amount = amount.notna() & (amount > 0)
        arr = arr.where(~has_amount, np.minimum(arr, amount).where(priced, amount * 0.8))
        pricing = pricing.where(
            ~has_amount,
            pd.Series(np.where(priced, pricing + ", capped by", "80% of"), index=rows.index)
            + " the stated spend "
            + money(amount.fillna(0)),
        )
        basis = basis.where(~has_amount | priced, "stated_budget")
    stated_budget = pd.Series(np.nan, index=rows.index)
    if budget is not None:
        # The customer's own budget is shown beside the catalog price; with no price it is
        # the amount.
        has_budget = budget.notna() & (budget > 0)
        stated_budget = budget.where(has_budget)
        arr = arr.where(~has_budget | priced, budget)
        basis = basis.where(~has_budget | priced, "stated_budget")
        pricing = pricing.where(
            ~has_budget,
            pd.Series(np.where(priced, pricing + "; ", ""), index=rows.index)
            + "the customer's stated budget: "
            + money(budget.fillna(0)),
        )
    return _frame(
        rows,
        key=rows["product_id"],
        type=opp_type,
        category=category,
        trigger=trigger,
        expansion_arr=arr,
        quantity=np.nan,
        pricing=pricing,
        basis=basis,
        budget=stated_budget,
        evidence=evidence,
        **extra,
    )


# --------------------------------------------------------------------------- signal timing

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
# A date named in a signal's text: "Q2 2027", "spring 2027", "March 2027", "in 2027", "2027 plan".
_WHEN = (
    r"\b(?:q(?P<q>[1-4])\s*(?:fy\s*)?(?P<qy>20\d\d)"
    r"|(?P<season>spring|summer|autumn|fall|winter)\s+(?:of\s+)?(?P<sy>20\d\d)"
    r"|(?P<month>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
    r"(?:uary|ruary|ch|il|e|y|ust|t|tember|ober|ember)?\.?\s+(?P<my>20\d\d)"
    r"|(?:in|from|by|during|for|starting)\s+(?P<y>20\d\d)"
    r"|(?P<py>20\d\d)\s+(?:plan|budget|roadmap))\b"
)
# Words that say an office or team does not exist yet.
_UPCOMING = (
    r"\b(?:opening|will open|to open|plans? to|planned|planning|not yet open\w*|upcoming"
    r"|launching|will launch|to be formed|will form)\b"
)
# Words that give an ask its timeline (seed 002's "timeline is clear").
_TIMELINE = (
    r"\b(?:q[1-4]|this (?:quarter|month|year)|next (?:quarter|month)|20\d\d|proposal|quote"
    r"|order form|contract|by (?:the )?end of|within \d+|immediate\w*|asap|start(?:s|ing)? in"
    r"|jan(?:uary)?|feb(?:ruary)?|march|april|june|july|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b"
)
TIMED_KINDS = ("expansion_intent", "new_office", "new_department", "hiring")


def signal_timing(signals: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """``signals`` with when each event happens: ``event_date`` (a date named in the text,
    ``Q2 2027`` -> 2027-04-01), ``future`` (the office has not opened, the hires start later:
    a named date more than 30 days out, or an office or team described as opening) and
    ``timeline`` (the text gives the ask a timeline). Only the kinds people needs read are
    parsed; the text is matched once per distinct value."""
    out = signals.copy()
    out["event_date"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
    out["future"] = False
    out["timeline"] = False
    timed = out["kind"].isin(TIMED_KINDS)
    if not timed.any():
        return out
    text = out.loc[timed, "detail"].fillna("").astype(str).str.lower()

    def when(distinct: pd.Series) -> pd.DataFrame:
        m = distinct.str.extract(_WHEN)
        year = m["qy"].fillna(m["sy"]).fillna(m["my"]).fillna(m["y"]).fillna(m["py"])
        month = (m["q"].astype(float) - 1) * 3 + 1
        month = month.fillna(m["season"].map(_SEASONS)).fillna(m["month"].map(_MONTHS))
        date = pd.to_datetime(
            pd.DataFrame({"year": year.astype(float), "month": month.fillna(1), "day": 1}),
            errors="coerce",
        )
        return pd.DataFrame(
            {
                "date": date,
                "upcoming": distinct.str.contains(_UPCOMING, regex=True),
                "timeline": distinct.str.contains(_TIMELINE, regex=True),
            },
            index=distinct.index,
        )

    codes, distinct = pd.factorize(text)
    found = when(pd.Series(distinct, dtype=object).astype(str))
    date = pd.Series(found["date"].to_numpy()[codes], index=text.index)
    upcoming = pd.Series(found["upcoming"].to_numpy()[codes], index=text.index)
    kind = out.loc[timed, "kind"]
    later = date > as_of + pd.Timedelta(days=30)
    opening = upcoming & kind.isin(["new_office", "new_department"]) & ~(date <= as_of)
    future = later | opening
    out.loc[timed, "future"] = future.to_numpy()
    # The date the text names when it is still ahead, else (an office "opening" with no date)
    # a check-in in 90 days.
    named = date > as_of
    out.loc[timed, "event_date"] = (
        date.where(named, as_of + pd.Timedelta(days=90)).where(future).to_numpy()
    )
    out.loc[timed, "timeline"] = found["timeline"].to_numpy()[codes] | later.to_numpy()
    return out


# --------------------------------------------------------------------------- 3-4. people


def _dept_key(names: pd.Series) -> pd.Series:
    """Department names as one key: case, spacing and punctuation do not split a team."""
    return per_distinct(
        names.astype(object),
        lambda d: d.astype(str).str.lower().str.replace(r"[^a-z0-9]+", " ", regex=True).str.strip(),
        dtype="str",
    ).replace("", np.nan)


class _People:
    """Who holds seats where, per account: the penetration that sizes an unstated need."""

    def __init__(self, p: pd.DataFrame, departments: pd.DataFrame, cfg: ScoringConfig):
        d = departments[departments["account_id"].isin(p.index)]
        d = d.assign(dkey=_dept_key(d["department"])).dropna(subset=["dkey"])
        d = d.drop_duplicates(["account_id", "dkey"], keep="first")
        self.departments = d
        head = d["headcount"].astype(float)
        seats = d["seats"].astype(float)
        using = (seats > 0) & (head > 0)
        # Seats per person in the departments that use the product (a team that adopts it
        # takes seats at about this rate), else across the company, else the configured share.
        adopting = (
            seats[using].groupby(d["account_id"][using]).sum()
            / head[using].groupby(d["account_id"][using]).sum()
        )
        employees = p["employee_count"].astype(float)
        company = (p["licensed_seats"] / employees.where(employees > 0)).clip(upper=1)
        self.adopting = (
            adopting.reindex(p.index).fillna(company).fillna(cfg.department_seat_share).clip(0, 1)
        )
        self.company = company.fillna(self.adopting)
        index = pd.MultiIndex.from_arrays([d["account_id"], d["dkey"]])
        self.dept_seats = pd.Series(seats.to_numpy(), index=index)
        self.dept_head = pd.Series(head.to_numpy(), index=index)
        self.dept_name = pd.Series(d["department"].to_numpy(), index=index)

    def lookup(self, series: pd.Series, accounts: pd.Series, keys: pd.Series) -> pd.Series:
        at = pd.MultiIndex.from_arrays([accounts.to_numpy(), keys.to_numpy()])
        return pd.Series(series.reindex(at).to_numpy(), index=accounts.index)

    def penetration(self, accounts: pd.Series, keys: pd.Series) -> pd.Series:
        """The department's own seats per person where it holds seats, else the adopting rate."""
        seats = self.lookup(self.dept_seats, accounts, keys)
        head = self.lookup(self.dept_head, accounts, keys)
        own = (seats / head.where(head > 0)).where(seats > 0).clip(upper=1)
        return own.fillna(accounts.map(self.adopting))

    def has_seats(self, accounts: pd.Series, keys: pd.Series) -> pd.Series:
        return self.lookup(self.dept_seats, accounts, keys).fillna(0) > 0


def people_triggers(
    p: pd.DataFrame,
    departments: pd.DataFrame,
    signals: pd.DataFrame,
    cat: Catalog,
    cfg: ScoringConfig,
) -> pd.DataFrame:
    """Seat needs, one per group of people (seed 002's department and company-growth triggers).

    Signals about the same people share a need: the customer's ask, hiring, a new-department
    signal and the department's own row for a team (``dept:<team>``); a new office
    (``office:<text>``); company growth and hiring that names no team (``seats``, with the seat
    ceiling). The customer's stated head count sets an ask's size. An unstated need is sized
    from penetration (hires x the team's seats per person), never from seat utilisation. A
    department with people and no seats is whitespace, not a deal, until a signal says the
    team needs the product. ``signals`` carry :func:`signal_timing`'s columns.
    """
    who = _People(p, departments, cfg)
    parts = []
    s = signals[signals["account_id"].isin(p.index)]
    s = s.assign(dkey=_dept_key(s["department"]))

    def team_frame(rows, trigger, quantity, evidence, *, key=None, type_=None, basis=None, **kw):
        accounts = pd.Index(rows["account_id"])
        if key is None:
            key = ("dept:" + rows["dkey"]).fillna("seats")
        if type_ is None:
            type_ = np.where(
                rows["dkey"].notna() & ~who.has_seats(rows["account_id"], rows["dkey"]),
                "new_department",
                "seat_expansion",
            )
        seat_basis = _seat_basis(accounts, cat)
        return _frame(
            rows,
            key=key,
            type=type_,
            product_id=rows["account_id"].map(cat.current_tier),
            category="department" if trigger != "headcount_growth" else "company_growth",
            trigger=trigger,
            expansion_arr=quantity * rows["account_id"].map(cat.seat_price),
            quantity=quantity,
            pricing=_seat_pricing(accounts, cat).to_numpy()
            if basis is None
            else np.where(
                basis,
                "estimate (no head count given: a small team of "
                + _int(pd.Series(quantity, index=rows.index)).to_numpy()
                + " seats) at "
                + _seat_pricing(accounts, cat).str.removeprefix("catalog: ").to_numpy(),
                _seat_pricing(accounts, cat).to_numpy(),
            ),
            basis=seat_basis if basis is None else np.where(basis, "estimate", seat_basis),
            evidence=evidence,
            # The team as the departments table names it, else as the signal does.
            department=who.lookup(who.dept_name, rows["account_id"], rows["dkey"])
            .astype(object)
            .fillna(rows["department"]),
            **kw,
        )

    # The customer's ask with a head count: the size of the deal.
    asks = s[(s["kind"] == "expansion_intent") & (s["headcount"] > 0)]
    if len(asks):
        quantity = asks["headcount"].astype(float)
        budget = asks["amount"].where(asks["amount"] > 0)
        evidence = "Asked " + _date(asks["date"]) + ": " + asks["detail"].fillna("")
        evidence = evidence.where(
            budget.isna(), evidence + " (stated budget " + money(budget.fillna(0)) + ")"
        )
        frame = team_frame(
            asks,
            "stated_ask",
            quantity,
            evidence,
            stated=True,
            budget=budget,
            timeline=asks["timeline"],
            future=asks["future"],
            event_date=asks["event_date"],
        )
        frame["pricing"] = (
            frame["pricing"]
            + " x "
            + _int(quantity).to_numpy()
            + " seats asked for"
            + np.where(
                budget.notna().to_numpy(),
                "; the customer's stated budget: " + money(budget.fillna(0)).to_numpy(),
                "",
            )
        )
        parts.append(frame)

    # Hiring into a named team: that team's need, at its own penetration.
    hiring = s[(s["kind"] == "hiring") & s["dkey"].notna() & (s["headcount"] > 0)]
    if len(hiring):
        pen = who.penetration(hiring["account_id"], hiring["dkey"])
        quantity = np.ceil(hiring["headcount"].astype(float) * pen)
        evidence = "Hiring " + _date(hiring["date"]) + ": " + hiring["detail"].fillna("")
        sizing = (
            " ("
            + _int(hiring["headcount"].astype(float))
            + " people x "
            + _pct(pen * 100)
            + " seats per person)"
        )
        parts.append(
            team_frame(
                hiring,
                "hiring",
                quantity,
                evidence,
                sizing=sizing,
                future=hiring["future"],
                event_date=hiring["event_date"],
            )
        )

    # New teams and offices: their head count at the adopting penetration; no head count is
    # a guess (an estimate, never a quote).
    new = s[s["kind"].isin(["new_department", "new_office"])]
    if len(new):
        is_office = new["kind"] == "new_office"
        head = new["headcount"].astype(float)
        guessed = head.isna() | (head <= 0)
        # The team's own seats per person where it holds seats (an office's moving team),
        # else the adopting teams' rate.
        pen = who.penetration(new["account_id"], new["dkey"])
        quantity = np.ceil(head * pen).where(~guessed, float(cfg.department_min_headcount))
        quantity = np.maximum(quantity, 1)
        team = new["dkey"].fillna(_dept_key(new["detail"])).fillna("new team")
        office_key = "office:" + _dept_key(new["detail"]).fillna("new office").str[:60]
        evidence = (
            pd.Series(np.where(is_office, "New office ", "New team "), index=new.index)
            + _date(new["date"])
            + ": "
            + new["detail"].fillna(new["department"]).fillna("")
        )
        sizing = pd.Series(
            np.where(
                guessed,
                " (no head count given: sized as a small team)",
                " (" + _int(head.fillna(0)) + " people x " + _pct(pen * 100) + " seats per person)",
            ),
            index=new.index,
        )
        parts.append(
            team_frame(
                new.assign(
                    dkey=team.where(~is_office),
                    department=new["department"]
                    .fillna("a new team")
                    .where(~is_office, "the new office"),
                ),
                "new_office",
                quantity,
                evidence,
                sizing=sizing,
                key=office_key.where(is_office, "dept:" + team),
                type_="new_department",
                basis=guessed,
                future=new["future"],
                event_date=new["event_date"],
            ).assign(
                trigger=np.where(is_office, "new_office", "new_department_signal"),
                strength=np.where(
                    is_office,
                    TRIGGER_STRENGTH["new_office"],
                    TRIGGER_STRENGTH["new_department_signal"],
                ),
            )
        )

    # A department's own row backs a need a signal already names (whitespace otherwise).
    d = who.departments
    empty = d[
        (d["seats"].fillna(0) == 0) & (d["headcount"].fillna(0) >= cfg.department_min_headcount)
    ]
    named = pd.MultiIndex.from_arrays([s["account_id"], s["dkey"]])
    named = named[s["kind"].isin(["expansion_intent", "hiring", "new_department"]).to_numpy()]
    empty = empty[pd.MultiIndex.from_arrays([empty["account_id"], empty["dkey"]]).isin(named)]
    if len(empty):
        using = d[d["seats"].fillna(0) > 0]
        users = join_groups(
            using["department"] + " (" + _int(using["seats"].astype(float)) + " seats)",
            using["account_id"],
            sep=", ",
        )
        quantity = np.ceil(empty["headcount"].astype(float) * empty["account_id"].map(who.adopting))
        evidence = (
            empty["department"] + ": " + _int(empty["headcount"].astype(float)) + " people, 0 seats"
        )
        held = empty["account_id"].map(users).astype(object)
        evidence = evidence.where(held.isna(), evidence + "; in use by " + held.fillna(""))
        parts.append(
            team_frame(empty, "empty_department", quantity, evidence, type_="new_department")
        )

    growth = _company_growth(p, s, who, cat, cfg)
    if len(growth):
        parts.append(growth)
    return pd.concat(parts, ignore_index=True) if parts else empty_candidates()


def _company_growth(
    p: pd.DataFrame, s: pd.DataFrame, who: _People, cat: Catalog, cfg: ScoringConfig
) -> pd.DataFrame:
    """Company growth and hiring that names no team: the ``seats`` need, sized by the
    company's seats per employee (hires x penetration), at accounts using what they have."""
    loose = s[(s["kind"] == "hiring") & s["dkey"].isna()]
    hires = loose.groupby("account_id")["headcount"].sum(min_count=1)
    funding = s[s["kind"] == "funding"]
    funding_text = join_groups(
        funding["detail"].fillna("funding") + " (" + _date(funding["date"]) + ")",
        funding["account_id"],
        sep="; ",
    )
    growth = p["employee_growth_pct"]
    grows = (growth >= cfg.growth_pct_threshold) | p.index.isin(hires.dropna().index)
    rows = p[
        grows
        & (p["seat_utilization"].fillna(0) >= cfg.growth_min_seat_utilization)
        & (p["licensed_seats"] > 0)
    ]
    if rows.empty:
        return empty_candidates()
    g = (growth.reindex(rows.index).clip(lower=0) / 100).fillna(0)
    h = hires.reindex(rows.index)
    # The people who joined in 12 months (employees x g / (1 + g)) at the company's seats per
    # employee is licensed x g / (1 + g); hires at the same rate.
    from_growth = np.ceil(rows["licensed_seats"] * g / (1 + g))
    from_hiring = np.ceil(h.fillna(0) * who.company.reindex(rows.index))
    seats = np.maximum(np.maximum(from_growth, from_hiring), cfg.seat_min_add)
    # How the size was reached, for the pricing line: the larger of the two estimates.
    how = pd.Series(
        np.where(
            from_hiring > from_growth,
            "the hires at today's seats per employee",
            "the share of today's "
            + whole(rows["licensed_seats"])
            + " seats that joined in 12 months: +"
            + _pct(g * 100)
            + " headcount",
        ),
        index=rows.index,
    )
    how = how.where(
        np.maximum(from_growth, from_hiring) >= cfg.seat_min_add,
        how + "; the minimum add is " + str(cfg.seat_min_add),
    )
    parts = pd.DataFrame(index=rows.index)
    gg = growth.reindex(rows.index)
    parts["growth"] = np.where(
        gg >= cfg.growth_pct_threshold, "Headcount +" + _pct(gg.fillna(0)) + " in 12 months", ""
    )
    parts["hiring"] = np.where(
        h.notna(),
        "hiring "
        + _int(h.fillna(0))
        + " people x "
        + _pct(who.company.reindex(rows.index) * 100)
        + " seats per employee",
        "",
    )
    ft = funding_text.reindex(rows.index)
    parts["funding"] = np.where(ft.notna(), "funding: " + ft.fillna(""), "")
    # At the seat ceiling its own line already says how many seats are in use.
    parts["use"] = np.where(
        rows["seat_utilization"] * 100 >= cfg.usage_ceiling_pct,
        "",
        _pct(rows["seat_utilization"] * 100) + " of seats in use",
    )
    evidence = parts["growth"].astype(object)
    for column in ("hiring", "funding", "use"):
        part = parts[column].astype(object)
        evidence = pd.Series(
            np.where(evidence == "", part, np.where(part == "", evidence, evidence + "; " + part)),
            index=rows.index,
            dtype="str",
        )
    evidence = evidence.str[0].str.upper() + evidence.str[1:]
    return _frame(
        rows,
        account_id=rows.index,
        key="seats",
        type="seat_expansion",
        product_id=cat.current_tier.reindex(rows.index),
        category="company_growth",
        trigger="headcount_growth",
        expansion_arr=seats * cat.seat_price.reindex(rows.index),
        quantity=seats,
        pricing=_seat_pricing(rows.index, cat) + " x " + whole(seats) + " seats (" + how + ")",
        basis=_seat_basis(rows.index, cat),
        evidence=evidence,
    )


def intent_triggers(
    p: pd.DataFrame, signals: pd.DataFrame, cat: Catalog, cfg: ScoringConfig
) -> pd.DataFrame:
    """The customer's ask without a head count: the product it names (priced from the
    catalog, the stated budget beside it), else a new use case at the stated budget. An ask
    that names neither a product nor an amount stays evidence of intent (propensity)."""
    s = signals[
        (signals["kind"] == "expansion_intent")
        & ~(signals["headcount"] > 0)
        & signals["account_id"].isin(p.index)
    ]
    if s.empty:
        return empty_candidates()
    product = cat.match(s["detail"].fillna("") + " " + s["department"].fillna(""))
    s = s.assign(product_id=product)
    s = s[~(cat.owns(s["account_id"], s["product_id"].fillna("")) & s["product_id"].notna())]
    budget = s["amount"].where(s["amount"] > 0)
    evidence = "Asked " + _date(s["date"]) + ": " + s["detail"].fillna("")
    evidence = evidence.where(
        budget.isna(), evidence + " (stated budget " + money(budget.fillna(0)) + ")"
    )
    timing = {
        "stated": True,
        "timeline": s["timeline"],
        "future": s["future"],
        "event_date": s["event_date"],
    }
    parts = []
    matched = s[s["product_id"].notna()]
    if len(matched):
        parts.append(
            _product_candidates(
                matched,
                p,
                cat,
                cfg,
                trigger="stated_ask",
                category="initiative",
                evidence=evidence[matched.index],
                budget=budget[matched.index],
                **{
                    k: (v[matched.index] if isinstance(v, pd.Series) else v)
                    for k, v in timing.items()
                },
            )
        )
    rest = s[s["product_id"].isna() & budget.notna()]
    if len(rest):
        parts.append(
            _frame(
                rest,
                key="use_case",
                type="new_use_case",
                product_id=None,
                category="initiative",
                trigger="stated_ask",
                expansion_arr=budget[rest.index],
                quantity=np.nan,
                pricing="the customer's stated budget (no catalog product named)",
                basis="stated_budget",
                budget=budget[rest.index],
                evidence=evidence[rest.index],
                **{
                    k: (v[rest.index] if isinstance(v, pd.Series) else v) for k, v in timing.items()
                },
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else empty_candidates()


# --------------------------------------------------------------------------- 5-7. signals


def initiative_triggers(
    p: pd.DataFrame, signals: pd.DataFrame, cat: Catalog, cfg: ScoringConfig
) -> pd.DataFrame:
    """Strategic initiatives matched to what the catalog solves become new use cases."""
    s = signals[signals["kind"] == "initiative"]
    if s.empty:
        return empty_candidates()
    product = cat.match(s["detail"].fillna("") + " " + s["department"].fillna(""))
    s = s.assign(product_id=product)
    owned = cat.owns(s["account_id"], s["product_id"].fillna("")) & s["product_id"].notna()
    s = s[~owned]
    if s.empty:
        return empty_candidates()
    matched = s[s["product_id"].notna()]
    evidence = "Initiative " + _date(s["date"]) + ": " + s["detail"].fillna("")
    parts = []
    if len(matched):
        frame = _product_candidates(
            matched,
            p,
            cat,
            cfg,
            trigger="initiative",
            category="initiative",
            evidence=evidence[matched.index],
            amount=matched["amount"],
        )
        frame["type"] = "new_use_case"
        parts.append(frame)
    unmatched = s[s["product_id"].isna()]
    if len(unmatched):
        arr = unmatched["account_id"].map(p["arr"]) * cfg.fallback_cross_sell_share
        parts.append(
            _frame(
                unmatched,
                key="use_case",
                type="new_use_case",
                product_id=None,
                category="initiative",
                trigger="initiative",
                expansion_arr=arr,
                quantity=np.nan,
                pricing=(
                    "estimate (no catalog product matched): "
                    f"{cfg.fallback_cross_sell_share:.0%} of current ARR"
                ),
                basis="estimate",
                evidence=evidence[unmatched.index],
            )
        )
    return pd.concat(parts, ignore_index=True)


def competitive_triggers(
    p: pd.DataFrame, signals: pd.DataFrame, cat: Catalog, cfg: ScoringConfig
) -> pd.DataFrame:
    """A competitor used alongside us: consolidate onto the product that covers it."""
    s = signals[signals["kind"] == "competitor"]
    if s.empty:
        return empty_candidates()
    s = s.assign(product_id=cat.match(s["detail"]))
    s = s[~(cat.owns(s["account_id"], s["product_id"].fillna("")) & s["product_id"].notna())]
    if s.empty:
        return empty_candidates()
    spend = s["amount"]
    evidence = "Competitor in use " + _date(s["date"]) + ": " + s["detail"].fillna("")
    evidence = evidence.where(spend.isna(), evidence + " (spend " + money(spend.fillna(0)) + "/yr)")
    matched = s[s["product_id"].notna()]
    parts = []
    if len(matched):
        frame = _product_candidates(
            matched,
            p,
            cat,
            cfg,
            trigger="competitor",
            category="competitive",
            evidence=evidence[matched.index],
            amount=matched["amount"],
        )
        frame["type"] = "competitive_displacement"
        parts.append(frame)
    rest = s[s["product_id"].isna()]
    if len(rest):
        fallback = rest["account_id"].map(p["arr"]) * cfg.fallback_cross_sell_share
        arr = (rest["amount"] * 0.8).fillna(fallback)
        parts.append(
            _frame(
                rest,
                key="competitor",
                type="competitive_displacement",
                product_id=None,
                category="competitive",
                trigger="competitor",
                expansion_arr=arr,
                quantity=np.nan,
                pricing=pd.Series("80% of the stated competitor spend", index=rest.index).where(
                    rest["amount"].notna(),
                    f"estimate (no spend known): {cfg.fallback_cross_sell_share:.0%} of current ARR",
                ),
                basis=np.where(rest["amount"].notna(), "stated_budget", "estimate"),
                evidence=evidence[rest.index],
            )
        )
    return pd.concat(parts, ignore_index=True)


def services_triggers(
    p: pd.DataFrame, signals: pd.DataFrame, cat: Catalog, cfg: ScoringConfig
) -> pd.DataFrame:
    """Services requests, and support load that premium support would absorb."""
    parts = []
    services = cat.products[cat.products["kind"] == "services"]
    s = signals[signals["kind"] == "services_request"]
    if len(s):
        product = cat.match(s["detail"], kinds=("services",))
        default = services["product_id"].iloc[0] if len(services) else None
        s = s.assign(product_id=product.fillna(default) if default else product)
        evidence = "Services request " + _date(s["date"]) + ": " + s["detail"].fillna("")
        with_product = s[s["product_id"].notna()]
        if len(with_product):
            frame = _product_candidates(
                with_product,
                p,
                cat,
                cfg,
                trigger="services_request",
                category="services",
                evidence=evidence[with_product.index],
                amount=with_product["amount"],
            )
            frame["type"] = "professional_services"
            parts.append(frame)
    support = cat.products[cat.products["kind"] == "support"]
    tickets = p["support_tickets_90d"].astype(float)
    busy = p[(tickets >= cfg.support_ticket_threshold)]
    if len(busy) and len(support):
        product = support["product_id"].iloc[0]
        products = pd.Series(product, index=busy.index)
        busy = busy[~cat.owns(pd.Series(busy.index, index=busy.index), products).to_numpy()]
    if len(busy):
        rows = busy.assign(
            account_id=busy.index,
            product_id=support["product_id"].iloc[0] if len(support) else None,
        )
        rows = rows.reset_index(drop=True)
        evidence = (
            _int(rows["support_tickets_90d"].astype(float))
            + " support tickets in 90 days (threshold "
            + str(cfg.support_ticket_threshold)
            + ") on standard support"
        )
        if len(support):
            frame = _product_candidates(
                rows, p, cat, cfg, trigger="support_load", category="services", evidence=evidence
            )
        else:
            frame = _frame(
                rows,
                key="support",
                type="support_upgrade",
                product_id=None,
                category="services",
                trigger="support_load",
                expansion_arr=rows["arr"] * 0.1,
                quantity=np.nan,
                pricing="estimate (no support product in the catalog): 10% of current ARR",
                basis="estimate",
                evidence=evidence,
            )
        frame["type"] = "support_upgrade"
        parts.append(frame)
    return pd.concat(parts, ignore_index=True) if parts else empty_candidates()


# --------------------------------------------------------------------------- merge


def empty_candidates() -> pd.DataFrame:
    return pd.DataFrame(columns=CANDIDATE_COLUMNS)


def merge_candidates(candidates: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fold candidates about the same need (account, ``key``) into one deal.

    The deal's amount, quantity, pricing note and price basis all come from one candidate, the
    lead: the customer's ask first, then the best price basis (catalog before estimates), then
    the largest size (the same people or capacity sized several ways: the largest covers all),
    a department's own row last. The type is the strongest trigger's. The need is stated,
    budgeted or timed when any of its signals is; it is a future event when all its signals
    are and none is the customer's ask (an ask is timed as an ask: now).

    Returns (opportunities, evidence): one row per deal, and the evidence lines in long form
    (the ask first, then by trigger strength).
    """
    c = candidates.dropna(subset=["expansion_arr"])
    c = c[c["expansion_arr"] > 0].copy()
    c["strength"] = c["strength"].astype(float)
    for flag in ("stated", "future", "timeline"):
        c[flag] = c[flag].fillna(False).astype(bool)
    keys = ["account_id", "key"]
    c["_basis_rank"] = c["basis"].map(BASIS_RANK).fillna(len(BASIS_RANK)).astype(int)
    c["_row"] = (c["trigger"] == "empty_department").astype(int)
    lead = c.sort_values(
        [*keys, "stated", "_basis_rank", "_row", "expansion_arr", "strength"],
        ascending=[True, True, False, True, True, False, False],
        kind="stable",
    )
    lead = lead.groupby(keys, sort=False).head(1)
    # A line's sizing note ("120 people x 17% seats per person") describes the size its own
    # candidate proposed; only the lead's size is the deal's, so only the lead keeps it.
    c["evidence"] = c["evidence"] + np.where(c.index.isin(lead.index), c["sizing"].fillna(""), "")
    lead = lead.set_index(keys)
    c = c.sort_values(
        [*keys, "stated", "strength", "expansion_arr"],
        ascending=[True, True, False, False, False],
        kind="stable",
    )
    g = c.groupby(keys, sort=False)
    head = g.head(1).set_index(keys)
    out = head[["type", "product_id", "category", "trigger", "strength", "department"]].copy()
    for column in ("expansion_arr", "quantity", "pricing", "basis"):
        out[column] = lead[column].reindex(out.index)
    out["department"] = out["department"].fillna(lead["department"].reindex(out.index))
    out["stated"] = g["stated"].any()
    out["timeline"] = g["timeline"].any()
    signals_only = c[c["_row"] == 0].groupby(keys)["future"].all()
    out["future"] = signals_only.reindex(out.index).fillna(False).astype(bool) & ~out["stated"]
    out["event_date"] = c[c["future"]].groupby(keys)["event_date"].min().reindex(out.index)
    out["budget"] = c[c["stated"]].groupby(keys)["budget"].max().reindex(out.index)
    by = [c["account_id"], c["key"]]
    out["triggers"] = join_groups(c["trigger"], by, sep=",", unique=True)
    out["categories"] = join_groups(c["category"], by, sep=",", unique=True)
    out["signal_count"] = g["trigger"].nunique()
    out = out.reset_index()
    evidence = c[[*keys, "evidence"]].drop_duplicates()
    evidence = evidence.assign(seq=evidence.groupby(keys, sort=False).cumcount())
    return out, evidence


def net_of_named_teams(
    merged: pd.DataFrame, evidence: pd.DataFrame, p: pd.DataFrame, cfg: ScoringConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The company's ``seats`` need, less the seats its named teams' deals already hold.

    The seat ceiling projects today's users with the company's growth, and company hiring is
    people joining somewhere; the customer's ask for a team, hiring into a named team and a new
    office are part of that same growth. So the ``seats`` deal keeps only what the team deals do
    not cover, and never less than today's users need at the target utilisation (or the
    minimum add). A ``seats`` deal the customer asked for keeps its size. The cut is said in an
    evidence line; price per seat is unchanged.
    """
    people = merged["key"].str.startswith(("dept:", "office:")) & merged["type"].isin(
        ["seat_expansion", "new_department"]
    )
    named = merged[people]
    company = merged["key"] == "seats"
    if named.empty or not company.any():
        return merged, evidence
    held = named.groupby("account_id")["quantity"].sum()
    teams = join_groups(
        named["department"].fillna("a new team").astype(str)
        + " "
        + named["quantity"].round().astype("Int64").astype(str),
        named["account_id"],
        sep=", ",
    )
    # The customer's own ask for company seats is its size: never cut.
    rows = merged[company & ~merged["stated"] & merged["account_id"].isin(held.index)]
    if rows.empty:
        return merged, evidence
    accounts = rows["account_id"]
    active = accounts.map(p["active_seats"]).fillna(accounts.map(p["licensed_seats"]))
    licensed = accounts.map(p["licensed_seats"])
    today = np.ceil(active / cfg.seat_target_utilization) - licensed
    floor = np.maximum(today.fillna(0), cfg.seat_min_add)
    cut = accounts.map(held)
    quantity = np.maximum(rows["quantity"] - cut, floor)
    changed = quantity < rows["quantity"]
    if not changed.any():
        return merged, evidence
    rows = rows[changed]
    quantity = quantity[changed]
    per_seat = rows["expansion_arr"] / rows["quantity"]
    merged = merged.copy()
    merged.loc[rows.index, "expansion_arr"] = quantity * per_seat
    merged.loc[rows.index, "quantity"] = quantity
    merged.loc[rows.index, "pricing"] = (
        rows["pricing"].astype(str)
        + "; "
        + whole(quantity)
        + " after the "
        + whole(rows["account_id"].map(held))
        + " seats this account's team deals hold"
    )
    line = (
        "Net of the "
        + whole(rows["account_id"].map(held))
        + " seats this account's team deals hold ("
        + rows["account_id"].map(teams)
        + "): "
        + whole(quantity)
        + " seats for the rest of the company"
    )
    last = evidence.groupby(["account_id", "key"])["seq"].max()
    seq = pd.MultiIndex.from_frame(rows[["account_id", "key"]]).map(last.get)
    extra = pd.DataFrame(
        {
            "account_id": rows["account_id"].to_numpy(),
            "key": rows["key"].to_numpy(),
            "evidence": line.to_numpy(),
            "seq": np.asarray(seq, dtype=float) + 1,
        }
    )
    evidence = pd.concat(
        [evidence, extra.astype({"seq": evidence["seq"].dtype})], ignore_index=True
    )
    return merged, evidence
