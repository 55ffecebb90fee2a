"""Rendering with jinja2: expansion-playbook.md, the find list, and one account's deep-dive.

Templates live in ``expansion/templates``; this module only prepares plain dicts for them.
Every value a template prints is Markdown-escaped (``finalize``): customer text such as an
account named ``[Click here](https://evil.example)`` or ``<Holdings> | Ltd`` renders as exactly
that text, never as a link, HTML, a table column or a new line. Numbers, the formatting filters'
output and the templates' own text are unaffected.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from urllib.parse import quote

import jinja2
import pandas as pd

from . import charts, numbers
from .engine import TYPE_LABELS
from .escape import SPREADSHEET_LINE_END, Markdown, markdown, spreadsheet_cell
from .pipeline import FindResult
from .portfolio import plain
from .profile import BENCHMARK_DIMENSIONS
from .talking_tracks import play

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=False,
    finalize=markdown,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)


def money(value) -> str:
    """``$1,234`` (exact figures in the playbook; :func:`expansion.numbers.money` is for chat)."""
    return Markdown(numbers.money_exact(value))


def pct(value, digits: int = 0) -> str:
    return Markdown(numbers.pct(value, digits))


def num(value, digits: int = 0) -> str:
    return Markdown(numbers.count(value, digits))


def day(value) -> str:
    if value is None or value != value or value is pd.NaT:
        return "n/a"
    return str(value)[:10]


def plural(count, noun: str, many: str | None = None) -> str:
    """``1 opportunity`` / ``2 opportunities``: a count with its noun agreeing."""
    n = int(count or 0)
    if n == 1:
        return f"1 {noun}"
    if many is None:
        many = (
            noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
        )
    return f"{n:,} {many}"


_ENV.filters.update(money=money, pct=pct, num=num, day=day, plural=plural)


def _records(frame: pd.DataFrame) -> list[dict]:
    if frame is None or frame.empty:
        return []
    out = []
    for row in frame.to_dict(orient="records"):
        out.append(
            {
                k: (
                    None
                    if (v is None or v is pd.NaT or (isinstance(v, float) and v != v))
                    else plain(v)
                )
                for k, v in row.items()
            }
        )
    return out


def _opportunities(result: FindResult, account_id: str | None = None) -> list[dict]:
    """The result's opportunities (one account's, when given) with evidence, plan, renewal,
    seat utilisation and the play."""
    opps = result.opportunities
    if account_id is not None:
        opps = opps[opps["account_id"] == account_id]
    if opps.empty:
        return []
    evidence = result.evidence_lists(opps["opportunity_id"]).to_dict()
    profiles = result.profiles
    profiles = profiles[profiles["account_id"].isin(opps["account_id"])]
    facts = (
        profiles.drop_duplicates("account_id", keep="last")
        .set_index("account_id")[["plan", "renewal_date", "seat_utilization"]]
        .to_dict("index")
    )
    rows = _records(opps)
    for row in rows:
        row["evidence"] = list(evidence.get(row["opportunity_id"], []))
        fact = facts.get(row["account_id"])
        if fact is not None:
            row["plan"] = fact["plan"]
            row["renewal_date"] = day(fact["renewal_date"])
            row["seat_utilization"] = fact["seat_utilization"]
        row["play"] = play(row, row["evidence"])
    return rows


def _account_rows(frame: pd.DataFrame, account_id: str) -> list[dict]:
    if frame is None or frame.empty or "account_id" not in frame:
        return []
    return _records(frame[frame["account_id"] == account_id])


def calibration_context(engine, cfg, *, as_of) -> dict:
    """The playbook's close-probability calibration section (:mod:`expansion.calibration`): per
    close-probability band and opportunity type, predicted vs actual win rate, count and Brier
    score (seed bands and calibrated), over the outcomes decided in the 12 months before
    ``as_of``; the note says "uncalibrated" below the minimum."""
    from . import calibration as cal

    result = cal.for_engine(engine, cfg, as_of=as_of)
    outcomes = cal.decided_outcomes(engine, as_of=as_of, cfg=cfg, until=cal.last_sync_at(engine))
    table = cal.report(outcomes, result, cfg)
    edges = cal.REPORT_BANDS

    def label(band: object) -> str:  # "[0.7, 1.0)" -> "70%-100%"
        found = re.match(r"\[([\d.]+),", str(band))
        if not found:
            return str(band)
        low = float(found.group(1))
        high = next((e for e in edges if e > low + 1e-9), 1.0)
        return f"{low:.0%}-{min(high, 1.0):.0%}"

    rows = [
        {
            "band": label(r["band"]),
            "type": TYPE_LABELS.get(r["type"], r["type"]),
            "count": int(r["count"]),
            "predicted": float(r["predicted"]),
            "actual": float(r["actual"]),
            "brier_seed": float(r["brier_seed"]),
            "brier": float(r["brier"]),
        }
        for r in table.to_dict("records")
    ]
    total = sum(r["count"] for r in rows)
    return {
        "note": result.note(),
        "calibrated": result.calibrated,
        "decided": result.decided,
        "minimum": result.minimum,
        "stale": result.stale,
        "rows": rows,
        "brier_seed": sum(r["brier_seed"] * r["count"] for r in rows) / total if total else None,
        "brier": sum(r["brier"] * r["count"] for r in rows) / total if total else None,
    }


def playbook_context(
    result: FindResult, *, portfolio_name: str, calibration: dict | None = None
) -> dict:
    """Everything the playbook template shows, as plain values (``calibration``: the close
    probability section, :func:`calibration_context`; left out when ``None``)."""
    opps = _opportunities(result)
    summary = result.summary
    by_account: dict[str, list[dict]] = {}
    for o in opps:
        by_account.setdefault(o["account_id"], []).append(o)
    stabilize = {r["account_id"]: r for r in _records(result.stabilize_first)}
    conversions = {r["account_id"]: r for r in _records(result.conversion_candidates)}
    activation: dict[str, list[dict]] = {}
    for r in _records(result.activation):
        activation.setdefault(r["account_id"], []).append(r)
    accounts = []
    for prof in _records(result.profiles.sort_values("arr", ascending=False)):
        own = by_account.get(prof["account_id"], [])
        why, unlock = _no_opportunity_reason(prof, stabilize, conversions, activation)
        accounts.append(
            {**prof, "opps": own, "top": own[0] if own else None, "why_none": why, "unlock": unlock}
        )
    types = summary["by_type"]
    top_type = types[0]["key"] if types else None
    best_ratio = None
    if opps:
        frame = pd.DataFrame(opps)
        ratio = frame.groupby("type_label").agg(
            score=("score", "mean"), effort=("effort_score", "mean")
        )
        best_ratio = ratio.sort_values(["effort", "score"], ascending=False).index[0]
    underused = (
        _records(result.activation[result.activation["kind"] == "features"])
        if len(result.activation)
        else []
    )
    quick_wins = [o for o in opps if o["tier"] <= 2 and o["effort_score"] >= 8]
    strategic = [o for o in opps if o["expansion_arr"] >= 50_000 and o["tier"] <= 3]
    return {
        "generated": result.as_of.isoformat(),
        "portfolio": portfolio_name,
        "scope": result.scope.describe(),
        "s": summary,
        "tier1": [o for o in opps if o["tier"] == 1],
        "tier2": [o for o in opps if o["tier"] == 2],
        "tier3": [o for o in opps if o["tier"] == 3],
        "tier45": [o for o in opps if o["tier"] >= 4],
        "accounts": accounts,
        "top_accounts": sorted(
            (
                {"name": a["name"], "potential": a["expansion_potential"], "count": len(a["opps"])}
                for a in accounts
                if a["opps"]
            ),
            key=lambda a: -(a["potential"] or 0),
        )[:5],
        "top_type": top_type,
        "best_ratio": best_ratio,
        "underused": underused,
        "product_gaps": _records(result.product_gaps),
        "stabilize": _records(result.stabilize_first),
        "conversions": _records(result.conversion_candidates),
        "activation": _records(result.activation),
        "data_gaps": _records(result.data_gaps),
        "gap_summary": summary.get("data_gaps", []),
        "quick_wins": quick_wins,
        "quick_win_arr": sum(o["expansion_arr"] for o in quick_wins),
        "strategic": strategic[:5],
        "competitive": [o for o in opps if o["type"] == "competitive_displacement"],
        "single_threaded": [
            a for a in accounts if (a.get("contacts") or 0) <= 2 and a.get("status") == "paying"
        ],
        "pricing_friction": [
            o
            for o in opps
            if o["type"] == "tier_upgrade"
            and o["revenue_score"] >= 7
            and o["likelihood_score"] <= 6
        ],
        "type_labels": TYPE_LABELS,
        "sources": result.sources,
        "calibration": calibration,
    }


def _no_opportunity_reason(
    prof, stabilize, conversions, activation
) -> tuple[str | None, str | None]:
    aid = prof["account_id"]
    if aid in stabilize:
        return (
            "Health issues must be resolved first: " + (stabilize[aid].get("reason") or ""),
            "Health back to 70+ and a quarter of stable usage; held back: "
            + (stabilize[aid].get("held_back") or "nothing"),
        )
    if aid in conversions:
        return (
            "Trial/free account: a conversion candidate, not an expansion",
            conversions[aid].get("action"),
        )
    if aid in activation:
        return (
            "Not using what they already have: " + "; ".join(a["detail"] for a in activation[aid]),
            "Activation first: " + activation[aid][0]["action"],
        )
    if not prof.get("has_usage"):
        return ("Insufficient data: no usage data", "Connect product analytics for this account")
    return (
        "Fully penetrated for now: no trigger fired (seats, usage, features and signals are all within plan)",
        "A new signal: hiring, a new team, an initiative, or usage crossing 80% of a limit",
    )


def render_playbook(
    result: FindResult,
    *,
    portfolio_name: str = "Customer portfolio",
    calibration: dict | None = None,
    pictures: list[tuple[str, str]] | None = None,
) -> str:
    """The full ``expansion-playbook.md`` (seed 002's output template) for a scope, with the
    close-probability calibration section when ``calibration`` (:func:`calibration_context`).

    ``pictures`` are ``(alt text, relative path)`` of chart files beside it, shown under the
    header (:func:`write_playbook` makes them).
    """
    images = [Markdown(f"![{markdown(alt)}]({quote(path)})") for alt, path in pictures or []]
    return _ENV.get_template("playbook.md.j2").render(
        **playbook_context(result, portfolio_name=portfolio_name, calibration=calibration),
        pictures=images,
    )


def chart_path(out_path: Path) -> Path:
    """Where the playbook's pipeline chart goes: beside it, ``<name>-pipeline.png``."""
    return out_path.with_name(f"{out_path.stem}-pipeline.png")


def write_playbook(
    result: FindResult,
    out_path: Path,
    *,
    portfolio_name: str = "Customer portfolio",
    calibration: dict | None = None,
) -> list[Path]:
    """Write the playbook to ``out_path`` and its chart (pipeline and expected value by tier and
    type, :mod:`expansion.charts`) beside it as PNG, linked from the Markdown by a relative
    path. Returns the files written. (The Tier 1 trend is a Slack channel's, digest by digest:
    a playbook has none.)"""
    data = charts.chart_data(result.opportunities, subtitle=f"As of {result.as_of:%d %b %Y}")
    picture = chart_path(out_path)
    picture.write_bytes(charts.render_pipeline(data))
    alt = "Pipeline and expected value by tier and by opportunity type"
    out_path.write_text(
        render_playbook(
            result,
            portfolio_name=portfolio_name,
            calibration=calibration,
            pictures=[(alt, picture.name)],
        ),
        encoding="utf-8",
    )
    return [out_path, picture]


def render_find_markdown(result: FindResult) -> str:
    """Seed 003's list: High priority table, Medium/Low, summary and data gaps."""
    opps = _opportunities(result)
    return _ENV.get_template("find.md.j2").render(
        scope=result.scope.describe(),
        as_of=result.as_of.isoformat(),
        sources=result.sources,
        s=result.summary,
        high=[o for o in opps if o["priority"] == "high"],
        rest=[o for o in opps if o["priority"] != "high"],
        stabilize=_records(result.stabilize_first),
        conversions=_records(result.conversion_candidates),
        activation=_records(result.activation),
        gap_summary=result.summary.get("data_gaps", []),
    )


def account_context(result: FindResult, account_id: str) -> dict:
    """One account's expansion profile (seed 002's ACCOUNT template) with its opportunities."""
    profiles = result.profiles
    rows = _records(profiles[profiles["account_id"] == account_id])
    if not rows:
        raise KeyError(account_id)
    prof = rows[0]
    bench = result.benchmarks[result.benchmarks["segment"] == prof["segment"]]
    benchmark_rows = []
    for dim, label in BENCHMARK_DIMENSIONS.items():
        b = bench[bench["dimension"] == dim]
        value = prof.get(dim)
        avg = float(b["average"].iloc[0]) if len(b) else None
        top = float(b["top_quartile"].iloc[0]) if len(b) else None
        benchmark_rows.append(
            {
                "label": label,
                "dimension": dim,
                "value": value,
                "average": avg,
                "top": top,
                "gap": (top - value)
                if (top is not None and value is not None and top == top)
                else None,
            }
        )
    opps = _opportunities(result, account_id)
    stabilize = _account_rows(result.stabilize_first, account_id)
    activation = _account_rows(result.activation, account_id)
    conversion = _account_rows(result.conversion_candidates, account_id)
    gaps = _account_rows(result.data_gaps, account_id)
    return {
        "p": prof,
        "benchmarks": benchmark_rows,
        "opps": opps,
        "stabilize": stabilize,
        "activation": activation,
        "conversion": conversion,
        "gaps": gaps,
        "as_of": result.as_of.isoformat(),
    }


def render_account(result: FindResult, account_id: str) -> str:
    """One account's deep-dive in Markdown."""
    return _ENV.get_template("account.md.j2").render(**account_context(result, account_id))


CSV_COLUMNS = {
    "account_name": "Account",
    "arr": "ARR",
    "type_label": "Opportunity type",
    "signal": "Signal",
    "suggested_action": "Suggested action",
    "priority": "Priority",
    "tier": "Tier",
    "score": "Score",
    "propensity": "Propensity",
    "close_probability": "Close probability",
    "expansion_arr": "Expansion ARR",
    "expected_value": "Expected value",
    "timing_bucket": "Timing",
    "deadline": "Act by",
    "owner": "Account owner",
    "assignee": "Assigned to",
    "opportunity_id": "Opportunity ID",
    "account_id": "Account ID",
}


def render_csv(result: FindResult, fields: list[str] | None = None) -> str:
    """Seed 003's list (Account, ARR, Opportunity type, Signal, Suggested action) plus scores;
    with ``fields``, those fields of each opportunity instead, headed by their names (a list,
    such as the evidence, as its items joined by ``; ``)."""
    out = io.StringIO()
    if fields:
        writer = csv.writer(out, lineterminator=SPREADSHEET_LINE_END)
        writer.writerow(fields)
        for record in result.opportunity_records():
            writer.writerow(
                spreadsheet_cell("; ".join(map(str, v)) if isinstance(v, list) else v)
                for v in (record.get(key) for key in fields)
            )
        return out.getvalue()
    writer = csv.DictWriter(
        out, fieldnames=list(CSV_COLUMNS.values()), lineterminator=SPREADSHEET_LINE_END
    )
    writer.writeheader()
    for record in result.opportunity_records():
        evidence = record.get("evidence") or []
        record["signal"] = evidence[0] if evidence else record.get("description")
        writer.writerow(
            {label: spreadsheet_cell(record.get(key)) for key, label in CSV_COLUMNS.items()}
        )
    return out.getvalue()
