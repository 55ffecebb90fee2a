"""Seed 002's seven trigger categories, each turning evidence into candidate opportunities.

Every trigger returns rows of one shape (:data:`CANDIDATE_COLUMNS`): the account, the thing to
sell (``key``: a product id, ``seats``, ``dept:<name>``...), the opportunity type, the
incremental ARR with how it was priced, and one evidence sentence that quotes the numbers.
:func:`merge_candidates` then folds rows about the same account and key into one opportunity,
keeping the type of the strongest trigger and every evidence line.

The loops in this module run over catalog products and keywords (a handful), never over accounts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import ScoringConfig
from .frames import join_groups, per_distinct
from .profile import DAYS_PER_MONTH

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
    "department",
]

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
    "empty_department": 5,
    "headcount_growth": 5,
    "initiative": 5,
    "competitor": 4,
    "services_request": 4,
    "support_load": 3,
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


def money(values: pd.Series) -> pd.Series:
    """``$12,345`` strings for evidence sentences (missing where the amount is)."""
    amount = np.round(pd.to_numeric(values).to_numpy(dtype=float, na_value=np.nan))
    known = ~np.isnan(amount)
    text = np.full(len(amount), np.nan, dtype=object)
    text[known] = [f"${v:,}" for v in amount[known].astype(np.int64).tolist()]
    return pd.Series(text, index=values.index, dtype="str")


def _int(values: pd.Series) -> pd.Series:
    return values.round().astype("Int64").astype(str)


def _pct(values: pd.Series) -> pd.Series:
    return values.round().astype("Int64").astype(str) + "%"


def _date(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%d").fillna("undated")


def _frame(base: pd.DataFrame, **columns) -> pd.DataFrame:
    out = pd.DataFrame(index=base.index)
    for name in CANDIDATE_COLUMNS:
        value = columns.get(name, base.get(name))
        out[name] = value
    out["strength"] = out["trigger"].map(TRIGGER_STRENGTH)
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
        now = self.current_tier.reindex(account_ids).to_numpy()
        now = pd.Series(now, index=account_ids.index)
        return self.price(target, seats) - self.price(now, seats).fillna(0)

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
        else _empty()
    )


def _seat_ceiling(p: pd.DataFrame, cat: Catalog, cfg: ScoringConfig) -> pd.DataFrame:
    rows = p[(p["seat_utilization"] * 100 >= cfg.usage_ceiling_pct) & (p["licensed_seats"] > 0)]
    if rows.empty:
        return _empty()
    growth = rows["employee_growth_pct"].fillna(0).clip(0, 50) / 100
    needed = np.ceil(rows["active_seats"] * (1 + growth) / cfg.seat_target_utilization)
    seats = np.maximum(needed - rows["licensed_seats"], cfg.seat_min_add)
    arr = seats * cat.seat_price.reindex(rows.index)
    evidence = (
        _int(rows["active_seats"])
        + " of "
        + _int(rows["licensed_seats"])
        + " licensed seats active ("
        + _pct(rows["seat_utilization"] * 100)
        + ")"
    )
    change = rows["active_seat_change_3p"]
    evidence = evidence.where(
        ~(change > 0), evidence + ", +" + _int(change.fillna(0)) + " active in the last quarter"
    )
    evidence = evidence.where(
        ~(rows["employee_growth_pct"] > 0),
        evidence + ", headcount +" + _pct(rows["employee_growth_pct"].fillna(0)) + " in 12 months",
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
        pricing=_seat_pricing(rows.index, cat),
        evidence=evidence,
    )


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
    usage_products = cat.products[cat.products["kind"] == "usage"]
    by_unit = dict(
        zip(
            usage_products["unit"].astype(str).str.lower(),
            usage_products["product_id"],
            strict=True,
        )
    )
    usage_product = metric.str.lower().map(by_unit)
    next_tier = account_ids.map(cat.next_tier)
    is_usage = usage_product.notna() | next_tier.isna()
    kind = pd.Series(np.where(is_usage, "usage_expansion", "tier_upgrade"), index=metric.index)
    product = usage_product.where(is_usage, next_tier)
    key = ("metric:" + metric.str.lower()).where(is_usage, next_tier)
    return kind, product, key


def _metric_candidates(
    rows: pd.DataFrame, trigger: str, cat: Catalog, cfg: ScoringConfig
) -> pd.DataFrame:
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
            "catalog: tier price difference at current seats",
            "catalog: " + rows["metric"] + " capacity +" + _int(extra) + " at unit price",
        ),
        index=rows.index,
    ).where(
        priced,
        "no catalog price for more "
        + rows["metric"]
        + ": half the account's ARR per unit of limit",
    )
    util = (
        rows["metric"]
        + " at "
        + _pct(rows["util_pct"])
        + " of limit ("
        + _int(rows["value"])
        + " of "
        + _int(rows["limit"])
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
            + " periods",
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
            evidence + " (before the " + rows["renewal_date"].dt.strftime("%Y-%m-%d") + " renewal)",
        )
    return _frame(
        rows,
        key=key,
        type=kind,
        product_id=product,
        category="usage_limits",
        trigger=trigger,
        expansion_arr=arr,
        quantity=extra,
        pricing=pricing,
        evidence=evidence,
    )


def _limit_hit(
    p: pd.DataFrame, metrics: pd.DataFrame, signals: pd.DataFrame, cat: Catalog, cfg: ScoringConfig
) -> pd.DataFrame:
    s = signals[signals["kind"] == "limit_hit"]
    if s.empty:
        return _empty()
    s = s.merge(p[["arr", "licensed_seats"]], left_on="account_id", right_index=True)
    detail = s["detail"].fillna("").str.lower()
    metric = pd.Series(None, index=s.index, dtype=object)
    for name in sorted(metrics["metric"].dropna().unique(), key=len, reverse=True):
        hit = metric.isna() & (
            detail.str.contains(str(name).lower().replace("_", " "), regex=False)
            | detail.str.contains(str(name).lower(), regex=False)
        )
        metric[hit] = name
    is_seats = metric.fillna("").str.lower() == "seats"
    kind, product, key = _usage_type(s["account_id"], metric.fillna("plan limits"), cat)
    kind = kind.where(~is_seats, "seat_expansion")
    key = key.where(~is_seats, "seats")
    product = product.where(~is_seats, s["account_id"].map(cat.current_tier))
    seats = s["licensed_seats"].fillna(0)
    tier_arr = cat.tier_difference(s["account_id"], product, seats)
    fallback = s["arr"] * cfg.fallback_cross_sell_share
    arr = pd.Series(
        np.where(
            kind == "tier_upgrade",
            tier_arr,
            np.where(is_seats, cfg.seat_min_add * s["account_id"].map(cat.seat_price), np.nan),
        ),
        index=s.index,
    )
    priced = arr.notna() & (arr > 0)
    return _frame(
        s,
        key=key,
        type=kind,
        product_id=product,
        category="usage_limits",
        trigger="limit_hit",
        expansion_arr=arr.where(priced, fallback),
        quantity=np.nan,
        pricing=pd.Series("catalog price", index=s.index).where(
            priced,
            "no usage volume to price: "
            + _pct(pd.Series(cfg.fallback_cross_sell_share * 100, index=s.index))
            + " of ARR",
        ),
        evidence="Hit a plan limit on "
        + _date(s["date"])
        + ": "
        + s["detail"].fillna("(no detail)"),
    )


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
    req = req[product.notna()].assign(product_id=product[product.notna()])
    req = req[~cat.owns(req["account_id"], req["product_id"])]
    if len(req):
        parts.append(
            _product_candidates(
                req,
                p,
                cat,
                cfg,
                trigger="feature_request",
                category="feature_gap",
                evidence="Feature request " + _date(req["date"]) + ": " + req["detail"].fillna(""),
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
    cands = pd.concat(parts, ignore_index=True) if parts else _empty()
    return cands, gaps


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
) -> pd.DataFrame:
    """Candidates selling ``rows.product_id`` (any kind) to ``rows.account_id``."""
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
            "catalog: tier price difference at current seats",
            "catalog list price",
        ),
        index=rows.index,
    ).where(
        priced,
        "no catalog price: " + str(round(cfg.fallback_cross_sell_share * 100)) + "% of current ARR",
    )
    arr = arr.where(priced, fallback)
    if amount is not None:
        # A known budget or competitor spend caps what the account will pay.
        has_amount = amount.notna() & (amount > 0)
        arr = arr.where(~has_amount, np.minimum(arr, amount).where(priced, amount * 0.8))
        pricing = pricing.where(
            ~has_amount, pricing + ", capped by the stated spend " + money(amount.fillna(0))
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
        evidence=evidence,
    )


# --------------------------------------------------------------------------- 3. departments


def department_triggers(
    p: pd.DataFrame,
    departments: pd.DataFrame,
    signals: pd.DataFrame,
    cat: Catalog,
    cfg: ScoringConfig,
) -> pd.DataFrame:
    """Departments with people but no seats, and signals of new departments or offices."""
    parts = []
    d = departments[
        (departments["seats"].fillna(0) == 0)
        & (departments["headcount"].fillna(0) >= cfg.department_min_headcount)
    ]
    d = d[d["account_id"].isin(p.index)]
    if len(d):
        using = departments[departments["seats"].fillna(0) > 0]
        users = join_groups(
            using["department"] + " (" + _int(using["seats"].astype(float)) + " seats)",
            using["account_id"],
            sep=", ",
        )
        seats = np.ceil(d["headcount"].astype(float) * cfg.department_seat_share)
        seats = _cap_department_seats(seats, d["account_id"], p, cfg)
        evidence = d["department"] + ": " + _int(d["headcount"].astype(float)) + " people, 0 seats"
        held = d["account_id"].map(users).astype(object)
        evidence = evidence.where(held.isna(), evidence + "; in use by " + held.fillna(""))
        parts.append(
            _department_frame(d, p, cat, "empty_department", seats, evidence, d["department"])
        )
    s = signals[signals["kind"].isin(["new_department", "new_office"])]
    if len(s):
        headcount = s["headcount"].astype(float)
        seats = np.ceil(headcount * cfg.department_seat_share).fillna(cfg.department_min_headcount)
        seats = _cap_department_seats(seats, s["account_id"], p, cfg)
        is_office = s["kind"] == "new_office"
        where = s["department"].fillna(s["detail"]).fillna("new team")
        label = where.where(
            ~is_office, "office: " + s["detail"].fillna(s["department"]).fillna("new office")
        )
        evidence = (
            pd.Series(np.where(is_office, "New office ", "New department "), index=s.index)
            + _date(s["date"])
            + ": "
            + s["detail"].fillna(s["department"]).fillna("")
        )
        evidence = evidence.where(
            headcount.isna(), evidence + " (" + _int(headcount.fillna(0)) + " people)"
        )
        trig = pd.Series(np.where(is_office, "new_office", "new_department_signal"), index=s.index)
        frame = _department_frame(s, p, cat, trig, seats, evidence, label)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True) if parts else _empty()


def _cap_department_seats(
    seats: pd.Series, accounts: pd.Series, p: pd.DataFrame, cfg: ScoringConfig
) -> pd.Series:
    """A new team rarely buys more than the account already has: cap at today's footprint."""
    current = accounts.map(p["licensed_seats"]).fillna(0) * cfg.department_max_vs_current
    cap = np.maximum(current, cfg.department_min_headcount)
    return pd.Series(np.minimum(seats, cap), index=seats.index)


def _department_frame(rows, p, cat, trigger, seats, evidence, department) -> pd.DataFrame:
    price = rows["account_id"].map(cat.seat_price)
    return _frame(
        rows,
        key="dept:" + department.str.strip().str.lower(),
        type="new_department",
        product_id=rows["account_id"].map(cat.current_tier),
        category="department",
        trigger=trigger,
        expansion_arr=seats * price,
        quantity=seats,
        pricing=_seat_pricing(pd.Index(rows["account_id"]), cat).to_numpy(),
        evidence=evidence,
        department=department,
    )


# --------------------------------------------------------------------------- 4. company growth


def growth_triggers(
    p: pd.DataFrame, signals: pd.DataFrame, cat: Catalog, cfg: ScoringConfig
) -> pd.DataFrame:
    """Headcount growth, hiring and funding at accounts that already use what they have."""
    hiring = (
        signals[signals["kind"] == "hiring"].groupby("account_id")["headcount"].sum(min_count=1)
    )
    funding = signals[signals["kind"] == "funding"]
    funding_text = join_groups(
        funding["detail"].fillna("funding") + " (" + _date(funding["date"]) + ")",
        funding["account_id"],
        sep="; ",
    )
    growth = p["employee_growth_pct"]
    grows = (
        (growth >= cfg.growth_pct_threshold)
        | p.index.isin(hiring.index)
        | p.index.isin(funding_text.index)
    )
    rows = p[
        grows
        & (p["seat_utilization"].fillna(0) >= cfg.growth_min_seat_utilization)
        & (p["licensed_seats"] > 0)
    ]
    if rows.empty:
        return _empty()
    hires = hiring.reindex(rows.index)
    share = (growth.reindex(rows.index).clip(lower=0) / 100).fillna(0)
    seats_from_growth = np.ceil(
        rows["licensed_seats"] * share * rows["seat_utilization"].clip(upper=1)
    )
    seats_from_hiring = np.ceil(hires.fillna(0) * rows["seat_utilization"].clip(upper=1))
    seats = np.maximum(np.maximum(seats_from_growth, seats_from_hiring), cfg.seat_min_add)
    evidence = pd.Series("", index=rows.index)
    g = growth.reindex(rows.index)
    evidence = evidence.where(
        ~(g >= cfg.growth_pct_threshold), "Headcount +" + _pct(g.fillna(0)) + " in 12 months"
    )
    hire_text = "hiring " + _int(hires.fillna(0)) + " people"
    evidence = evidence.where(hires.isna(), (evidence + "; " + hire_text).str.lstrip("; "))
    ft = funding_text.reindex(rows.index)
    evidence = evidence.where(ft.isna(), (evidence + "; raised " + ft.fillna("")).str.lstrip("; "))
    evidence = evidence + "; " + _pct(rows["seat_utilization"] * 100) + " of seats in use"
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
        pricing=_seat_pricing(rows.index, cat),
        evidence=evidence.str[0].str.upper() + evidence.str[1:],
    )


# --------------------------------------------------------------------------- 5-7. signals


def initiative_triggers(
    p: pd.DataFrame, signals: pd.DataFrame, cat: Catalog, cfg: ScoringConfig
) -> pd.DataFrame:
    """Strategic initiatives matched to what the catalog solves become new use cases."""
    s = signals[signals["kind"] == "initiative"]
    if s.empty:
        return _empty()
    product = cat.match(s["detail"].fillna("") + " " + s["department"].fillna(""))
    s = s.assign(product_id=product)
    owned = cat.owns(s["account_id"], s["product_id"].fillna("")) & s["product_id"].notna()
    s = s[~owned]
    if s.empty:
        return _empty()
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
                pricing=f"no catalog product matched: {cfg.fallback_cross_sell_share:.0%} of current ARR",
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
        return _empty()
    s = s.assign(product_id=cat.match(s["detail"]))
    s = s[~(cat.owns(s["account_id"], s["product_id"].fillna("")) & s["product_id"].notna())]
    if s.empty:
        return _empty()
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
                    f"no spend known: {cfg.fallback_cross_sell_share:.0%} of current ARR",
                ),
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
                pricing="no support product in the catalog: 10% of current ARR",
                evidence=evidence,
            )
        frame["type"] = "support_upgrade"
        parts.append(frame)
    return pd.concat(parts, ignore_index=True) if parts else _empty()


# --------------------------------------------------------------------------- merge


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=CANDIDATE_COLUMNS)


def merge_candidates(candidates: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fold candidates about the same (account, key) into one opportunity.

    Returns (opportunities, evidence): one row per opportunity with the strongest trigger's
    type and product and the largest ARR estimate, and the evidence lines in long form
    (strongest trigger first).
    """
    c = candidates.dropna(subset=["expansion_arr"])
    c = c[c["expansion_arr"] > 0].copy()
    c["strength"] = c["strength"].astype(float)
    c = c.sort_values(
        ["account_id", "key", "strength", "expansion_arr"],
        ascending=[True, True, False, False],
        kind="stable",
    )
    keys = ["account_id", "key"]
    g = c.groupby(keys, sort=False)
    head = g.head(1).set_index(keys)
    out = head[
        ["type", "product_id", "category", "trigger", "strength", "pricing", "department"]
    ].copy()
    out["expansion_arr"] = g["expansion_arr"].max()
    out["quantity"] = g["quantity"].max()
    by = [c["account_id"], c["key"]]
    out["triggers"] = join_groups(c["trigger"], by, sep=",", unique=True)
    out["categories"] = join_groups(c["category"], by, sep=",", unique=True)
    out = out.reset_index()
    evidence = c[[*keys, "evidence"]].drop_duplicates()
    evidence = evidence.assign(seq=evidence.groupby(keys, sort=False).cumcount())
    return out, evidence
