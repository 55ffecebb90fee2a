#!/usr/bin/env python3
"""Build the bundled demo portfolio in ``expansion/sample/portfolio/``.

The portfolio is a fictional B2B SaaS customer base, built for the as-of date
**2026-11-16** (a Monday). The accounts are data, in ``scripts/sample_portfolio.yaml``
(its first lines describe every key); this script derives every file from them.
Every account is a hand-written story designed to exercise
one or more expansion triggers (seat / usage ceilings, feature gaps, department
whitespace, company growth, initiatives, competitors, services) or one of the guards
and edge cases (unhealthy accounts, activation instead of upsell, just renewed,
trials, partners, missing usage data, nothing to sell).

The script is deterministic: there is no randomness, the small month-to-month wobble
in usage series is a fixed function of the account number, and the ``.xlsx`` file is
written with fixed timestamps so re-running it reproduces every file byte for byte.

Files written (one table per file, every supported file type used once or more):

    accounts.csv        CRM-export style headers (aliases), some ARR as "$85,000", "85K", "1.2M"
    catalog.json        JSON array of products
    subscriptions.tsv   tab separated
    usage.jsonl         one JSON object per line, 12 months 2025-12 .. 2026-11
    features.xlsx       first sheet
    signals.csv
    departments.csv
    README.md           one row per account: what it is designed to exercise

Run, then check that every account still shows the stories it claims::

    .venv/bin/python scripts/build_sample_portfolio.py
    .venv/bin/python -m pytest -q tests/test_sample_portfolio.py
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import math
import zipfile
from datetime import datetime, time
from pathlib import Path

import yaml

from expansion.generate import CATALOG, FEATURES
from expansion.samples import SAMPLE_AS_OF, SAMPLE_PORTFOLIO

MONTHS = [f"{y}-{m:02d}" for y, m in [(2025, 12)] + [(2026, m) for m in range(1, 12)]]
OUT = SAMPLE_PORTFOLIO
DATA = Path(__file__).with_name("sample_portfolio.yaml")

# --------------------------------------------------------------------------------------
# Product catalog
# --------------------------------------------------------------------------------------
# The same products as the synthetic books of `expansion generate`: one catalog, defined there.
PRODUCTS = {p["product_id"]: p for p in CATALOG}
TIERS = ["starter", "professional", "enterprise"]
ADD_ONS = [p["product_id"] for p in CATALOG if p["kind"] == "add_on"]

#: Every feature key in the features table, in a stable order. Tier features are
#: cumulative: professional includes starter's, enterprise includes professional's.
FEATURE_KEYS = list(FEATURES)  # the generator's feature keys: one list


# --------------------------------------------------------------------------------------
# The stories and the accounts, read from the data file
# --------------------------------------------------------------------------------------


def load(path: Path = DATA) -> tuple[dict[str, tuple[str, str, str]], list[dict]]:
    """The story tags (tag: (scenario number, short label, long description)) and the
    accounts of ``path``, every signal with all of its columns (missing ones None)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    stories = {
        tag: (story["brief"], story["label"], story["description"])
        for tag, story in data["stories"].items()
    }
    blank_signal = dict.fromkeys(("department", "headcount", "amount"))
    accounts = [
        {**acc, "signals": [{**blank_signal, **signal} for signal in acc["signals"]]}
        for acc in data["accounts"]
    ]
    return stories, accounts


STORIES, ACCOUNTS = load()

# --------------------------------------------------------------------------------------
# Derivations
# --------------------------------------------------------------------------------------


def account_num(acc: dict) -> int:
    return int(acc["id"].split("-")[1])


def tier_of(acc: dict) -> str:
    return acc["plan"].lower()


def subscriptions(acc: dict) -> list[dict]:
    """The account's subscription rows: its tier plus any add-ons / support."""
    paying = acc.get("status", "paying") == "paying"
    seats = acc["seats"]
    rows = []
    for pid in [tier_of(acc), *acc["addons"]]:
        product = PRODUCTS[pid]
        if product["price_per_seat"] is not None:
            qty, arr = seats, seats * product["price_per_seat"]
        else:
            qty, arr = 1, product["annual_price"]
        rows.append(
            {
                "account_id": acc["id"],
                "product_id": pid,
                "quantity": qty,
                "arr": arr if paying else 0,
            }
        )
    return rows


def arr_of(acc: dict) -> int:
    return sum(r["arr"] for r in subscriptions(acc))


def derived_segment(arr: float) -> str:
    if arr >= 50_000:
        return "enterprise"
    if arr >= 20_000:
        return "mid-market"
    return "smb"


def format_arr(acc: dict) -> str:
    arr = arr_of(acc)
    style = acc.get("arr_as")
    if style == "dollar":
        return f"${arr:,.0f}"
    if style == "k":
        return f"{arr / 1000:g}K"
    if style == "m":
        return f"{arr / 1_000_000:.1f}M"
    return str(arr)


def entitled_features(acc: dict) -> set[str]:
    feats: set[str] = set()
    for tier in TIERS[: TIERS.index(tier_of(acc)) + 1]:
        feats |= set(PRODUCTS[tier]["features"].split(";"))
    for pid in acc["addons"]:
        if PRODUCTS[pid]["features"]:
            feats |= set(PRODUCTS[pid]["features"].split(";"))
    return feats


def interpolate(anchors: list[tuple[int, float]], n: int) -> list[float]:
    """Linear interpolation through ``anchors`` (index, value) over ``n`` points."""
    anchors = sorted(anchors)
    out = []
    for i in range(n):
        if i <= anchors[0][0]:
            out.append(anchors[0][1])
            continue
        if i >= anchors[-1][0]:
            out.append(anchors[-1][1])
            continue
        for (i0, v0), (i1, v1) in itertools.pairwise(anchors):
            if i0 <= i <= i1:
                out.append(v0 + (v1 - v0) * (i - i0) / (i1 - i0))
                break
    return out


def usage_rows(acc: dict) -> list[dict]:
    if acc.get("no_usage"):
        return []
    months = acc.get("usage_months", MONTHS)
    n = len(months)
    seed = account_num(acc)
    rows: list[dict] = []

    seat_anchors = acc.get("seat_curve") or [
        (0, max(1, round(acc["active"] * 0.93))),
        (n - 1, acc["active"]),
    ]
    anchor_idx = {i for i, _ in seat_anchors}
    seats = interpolate(seat_anchors, n)
    limits = interpolate(acc.get("seat_limit_curve", [(0, acc["seats"])]), n)
    for i, month in enumerate(months):
        value = round(seats[i])
        if i not in anchor_idx:  # a little month-to-month noise between anchors
            value += (0, 1, 0, -1)[(i + seed) % 4]
        limit = round(limits[i])
        value = max(0, min(value, limit))
        rows.append(
            {
                "account_id": acc["id"],
                "metric": "seats",
                "period": month,
                "value": value,
                "limit": limit,
            }
        )

    for metric in ("api_calls", "storage_gb"):
        spec = acc.get("usage", {}).get(metric)
        if not spec:
            continue
        limit = spec["limit"]
        anchor_idx = {i for i, _ in spec["curve"]}
        fracs = interpolate(spec["curve"], n)
        for i, month in enumerate(months):
            frac = fracs[i]
            if metric == "api_calls" and spec.get("wobble", True) and i not in anchor_idx:
                frac *= 1 + 0.02 * math.sin(1.3 * i + seed)
            value = round(frac * limit) if metric == "api_calls" else round(frac * limit, 1)
            rows.append(
                {
                    "account_id": acc["id"],
                    "metric": metric,
                    "period": month,
                    "value": value,
                    "limit": limit,
                }
            )
    return rows


#: Entitled-flag spellings, rotated per account so the column mixes formats.
ENTITLED_STYLES = [
    (True, False),
    ("yes", "no"),
    (1, 0),
    ("true", "false"),
]


def feature_rows(acc: dict) -> list[dict]:
    profile = acc.get("features")
    if not profile:
        return []
    entitled = entitled_features(acc)
    yes, no = ENTITLED_STYLES[account_num(acc) % len(ENTITLED_STYLES)]
    seed = account_num(acc)
    rows = []
    for j, key in enumerate(FEATURE_KEYS):
        if key in entitled:
            if key in profile.get("set", {}):
                pct = profile["set"][key]
            else:
                pct = profile["base"] + ((seed * 7 + j * 11) % 21) - 10
            pct = max(0, min(100, pct))
            rows.append(
                {
                    "account_id": acc["id"],
                    "feature": key,
                    "entitled": yes,
                    "used": pct > 0,
                    "adoption_pct": pct,
                }
            )
        else:
            rows.append(
                {
                    "account_id": acc["id"],
                    "feature": key,
                    "entitled": no,
                    "used": False,
                    "adoption_pct": 0,
                }
            )
    return rows


def departments_engaged(acc: dict):
    if "depts" in acc:
        return sum(1 for _, _, seats in acc["depts"] if seats > 0)
    return acc.get("depts_engaged")


# --------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------

ACCOUNT_HEADERS = [
    ("Account ID", lambda a: a["id"]),
    ("Account Name", lambda a: a["name"]),
    ("ARR", format_arr),
    ("Segment", lambda a: a["segment"]),
    ("Industry", lambda a: a["industry"]),
    ("Region", lambda a: a["region"]),
    ("Plan", lambda a: a["plan"]),
    ("Licenses", lambda a: a["seats"]),
    ("Active Users", lambda a: a["active"]),
    ("Employee Count", lambda a: a["employees"]),
    ("employee_growth_pct", lambda a: a["growth"]),
    ("Health Score", lambda a: a["health"]),
    ("NPS", lambda a: a["nps"]),
    ("CSAT", lambda a: a["csat"]),
    ("support_tickets_90d", lambda a: a["tickets"]),
    ("Engagement", lambda a: a["engagement"]),
    ("Contacts", lambda a: a["contacts"]),
    ("Departments Engaged", departments_engaged),
    ("Contract Term", lambda a: a["term"]),
    ("Contract Start", lambda a: a["start"]),
    ("Contract End Date", lambda a: a["renewal"]),
    ("Last Renewal Date", lambda a: a["last_renewal"]),
    ("CSM", lambda a: a["csm"]),
    ("Status", lambda a: a.get("status", "paying")),
    ("Channel", lambda a: a.get("channel", "direct")),
]


def _cell(value) -> str:
    return "" if value is None else str(value)


def write_csv(path: Path, header: list[str], rows: list[list], delimiter: str = ",") -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    path.write_text(buf.getvalue(), encoding="utf-8")


def write_accounts(out: Path) -> None:
    write_csv(
        out / "accounts.csv",
        [h for h, _ in ACCOUNT_HEADERS],
        [[get(a) for _, get in ACCOUNT_HEADERS] for a in ACCOUNTS],
    )


def write_catalog(out: Path) -> None:
    (out / "catalog.json").write_text(json.dumps(CATALOG, indent=2) + "\n", encoding="utf-8")


def write_subscriptions(out: Path) -> None:
    header = ["account_id", "product_id", "quantity", "arr"]
    rows = [[r[h] for h in header] for a in ACCOUNTS for r in subscriptions(a)]
    write_csv(out / "subscriptions.tsv", header, rows, delimiter="\t")


def write_usage(out: Path) -> None:
    lines = [json.dumps(r) for a in ACCOUNTS for r in usage_rows(a)]
    (out / "usage.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


FIXED_TIME = datetime.combine(SAMPLE_AS_OF, time(8))


def write_features(out: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "features"
    header = ["account_id", "feature", "entitled", "used", "adoption_pct"]
    ws.append(header)
    for acc in ACCOUNTS:
        for r in feature_rows(acc):
            ws.append([r[h] for h in header])
    ws.column_dimensions["A"].width = 12
    ws.column_dimensions["B"].width = 22
    ws.freeze_panes = "A2"
    wb.properties.creator = "build_sample_portfolio.py"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    raw = io.BytesIO()
    wb.save(raw)
    (out / "features.xlsx").write_bytes(_normalize_xlsx(raw.getvalue()))


def _normalize_xlsx(data: bytes) -> bytes:
    """Re-zip with fixed entry timestamps (and a fixed modified date) so reruns are
    byte-identical."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                import re

                payload = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>2026-11-16T08:00:00Z\g<2>",
                    payload,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=(2026, 11, 16, 8, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, payload)
    return out.getvalue()


def write_signals(out: Path) -> None:
    header = ["account_id", "kind", "date", "detail", "department", "headcount", "amount"]
    rows = [
        [a["id"], s["kind"], s["date"], s["detail"], s["department"], s["headcount"], s["amount"]]
        for a in ACCOUNTS
        for s in sorted(a.get("signals", []), key=lambda s: s["date"])
    ]
    write_csv(out / "signals.csv", header, rows)


def write_departments(out: Path) -> None:
    header = ["account_id", "department", "headcount", "seats"]
    rows = [[a["id"], d, hc, seats] for a in ACCOUNTS for d, hc, seats in a.get("depts", [])]
    write_csv(out / "departments.csv", header, rows)


def _md(text: str) -> str:
    """Escape text for a markdown table cell (``<`` would start an HTML tag)."""
    return text.replace("\\", "\\\\").replace("<", "\\<").replace("|", "\\|")


def write_readme(out: Path) -> None:
    n = len(ACCOUNTS)
    seg_counts: dict[str, int] = {}
    for a in ACCOUNTS:
        seg = a["segment"] or derived_segment(arr_of(a))
        key = f"{seg} ({a.get('status', 'paying')})"
        seg_counts[key] = seg_counts.get(key, 0) + 1
    lines = [
        "# Sample portfolio",
        "",
        "A fictional B2B SaaS customer base bundled with the engine for demos, tests and the",
        "quick start. **Built for the as-of date 2026-11-16** (a Monday): usage runs monthly",
        'from 2025-12 to 2026-11, signal dates, renewals and "just renewed" are relative to',
        "that date. Run the engine with `--as-of 2026-11-16` (or the equivalent setting) to",
        "reproduce the intended results.",
        "",
        "Generated by `scripts/build_sample_portfolio.py` (deterministic, hand-written account",
        "stories). Do not edit these files by hand: change the script and re-run it.",
        "",
        "## Files",
        "",
        "| file | format | table | notes |",
        "|---|---|---|---|",
        "| `accounts.csv` | CSV | accounts | CRM-export headers (`Account ID`, `Licenses`, "
        "`Active Users`, `Contract End Date`, `CSM`, ...); ARR mostly plain numbers, some "
        "`$86,400` / `84K` / `1.2M`; segment blank for 4 accounts; names with `&`, `<`, `>` "
        "and a comma (quoted). |",
        "| `catalog.json` | JSON array | catalog | 3 tiers, 4 add-ons, 2 usage SKUs, 2 services, "
        "1 support. |",
        "| `subscriptions.tsv` | TSV | subscriptions | tier (quantity = licensed seats) + "
        "add-ons; sums to account ARR (`1.2M` is rounded). |",
        "| `usage.jsonl` | JSON lines | usage | `seats`, `api_calls`, `storage_gb` per month; "
        "latest `seats` value = active seats, limit = licensed seats. |",
        "| `features.xlsx` | Excel (first sheet) | features | `entitled` mixes "
        "`TRUE`/`yes`/`1`/`true` spellings. |",
        "| `signals.csv` | CSV | signals | growth, intent and risk signals; includes unknown "
        "kinds (`acquisition`, `press_mention`, `award`) and two stale (> 12 months) rows. |",
        "| `departments.csv` | CSV | departments | `seats` = 0 marks a department not using "
        "the product. |",
        "",
        f"## Accounts ({n})",
        "",
        "Segment counts (blank segments derived from ARR: >= $50K enterprise, $20K-$50K "
        "mid-market, < $20K smb): "
        + ", ".join(f"{k}: {v}" for k, v in sorted(seg_counts.items()))
        + ".",
        "",
        "Numbers in brackets are the scenario numbers of the table below; `story` is the",
        "account's narrative.",
        "",
        "| id | name | segment | ARR | plan | renewal | designed to exercise | story |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in ACCOUNTS:
        seg = a["segment"] or f"*(blank -> {derived_segment(arr_of(a))})*"
        status = a.get("status", "paying")
        plan = a["plan"] + ("" if status == "paying" else f" ({status})")
        if a.get("channel") == "partner":
            plan += ", partner"
        tags = "; ".join(
            f"{STORIES[t][1]} [{STORIES[t][0]}]" if STORIES[t][0] != "-" else STORIES[t][1]
            for t in a["stories"]
        )
        lines.append(
            f"| {a['id']} | {_md(a['name'])} | {seg} | {_md(format_arr(a))} | {plan} | "
            f"{a['renewal'] or '-'} | {_md(tags)} | {_md(a['note'])} |"
        )
    lines += [
        "",
        "## Scenarios and the accounts that exercise them",
        "",
        "| # | scenario | accounts |",
        "|---|---|---|",
    ]
    for tag, (num, _, label) in STORIES.items():
        ids = [a["id"] for a in ACCOUNTS if tag in a["stories"]]
        lines.append(f"| {num} | {_md(label)} (`{tag}`) | {', '.join(ids)} |")
    lines += [
        "",
        "## Conventions",
        "",
        "- Prices: Starter $240, Professional $480, Enterprise $840 per seat per year; "
        "Advanced Analytics $120/seat, Workflow Automation $96/seat, Compliance Suite $15,000, "
        "Integrations Pack $6,000, Premium Support $9,000 flat per year.",
        "- Default monthly limits: API calls 250K (Starter) / 1M (Professional) / 5M "
        "(Enterprise); storage 100 / 500 / 2,000 GB. Some accounts have custom limits.",
        "- Tier features are cumulative (Professional includes Starter's features).",
        "- `contract_start` is the customer-since date; `renewal_date` (`Contract End Date`) "
        "is the end of the current term; for trials it is the trial end. Monthly contracts "
        "have no last renewal date. The free account has no renewal date and no CSM.",
        "- CSMs: " + ", ".join(sorted({a["csm"] for a in ACCOUNTS if a["csm"]})) + ".",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


def build(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_accounts(out)
    write_catalog(out)
    write_subscriptions(out)
    write_usage(out)
    write_features(out)
    write_signals(out)
    write_departments(out)
    write_readme(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="output directory")
    args = parser.parse_args(argv)
    build(args.out)
    print(f"wrote {len(ACCOUNTS)} accounts to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
