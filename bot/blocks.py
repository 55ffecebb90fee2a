"""Block Kit for every message the bot posts: list pages, cards, the scope picker, deep-dives, Home.

Builders take plain records (dicts from :mod:`expansion`) and return block dicts. Customer data
only ever reaches mrkdwn through :func:`escape`, and so does every message's ``text`` fallback
(Slack parses it for mentions and links in notifications); text that needs no formatting is
plain_text. Every text is clipped to Slack's limits here, so no record can produce a message
Slack rejects.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from expansion.playbook import plural
from expansion.workflow import OUTCOMES

MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
# Slack reports msg_blocks_too_long at about 13k characters of text; keep a wide margin.
MAX_MESSAGE_CHARS = 10_000
CARDS_PER_PAGE = 8
COMPACT_LIST_LINES = 20
#: High-priority cards a list pages through; beyond them, Export CSV has the whole list.
MAX_LIST_CARDS = 100
HOME_CARDS = 20

SCOPE_PICKS = [
    ("Enterprise", "enterprise"),
    ("Mid-market", "mid-market"),
    ("SMB", "smb"),
    ("All accounts", "all accounts"),
    ("Renewing this quarter", "renewing this quarter"),
    ("At 80% seat usage", "at 80% seat usage"),
]
OVERFLOW_LABELS = {
    "snoozed": "Snooze 30 days",
    "not_a_fit": "Not a fit",
    "won": "Won",
    "lost": "Lost",
    "open": "Reopen",
    "unassign": "Unassign",
}


# --------------------------------------------------------------------------- text


def escape(text: object) -> str:
    """Customer data made inert in mrkdwn: ``&``, ``<`` and ``>`` only, as Slack asks."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def plain(text: object, limit: int = 75) -> dict:
    return {"type": "plain_text", "text": clip(str(text), limit) or " ", "emoji": True}


def mrkdwn(text: str, limit: int = 3000) -> dict:
    return {"type": "mrkdwn", "text": clip(text, limit) or " "}


def section(text: str, **extra) -> dict:
    return {"type": "section", "text": mrkdwn(text), **extra}


def context(*texts: str) -> dict:
    return {"type": "context", "elements": [mrkdwn(t, 2000) for t in texts if t][:10]}


def header(text: str) -> dict:
    return {"type": "header", "text": plain(text, 150)}


def button(text: str, action_id: str, value: str = "", *, style: str | None = None) -> dict:
    out = {"type": "button", "text": plain(text), "action_id": action_id}
    if value:
        out["value"] = value[:2000]
    if style:
        out["style"] = style
    return out


def money(value) -> str:
    """Compact money for cards: ``$1.2M``, ``$85K``, ``$900``."""
    if value is None or value != value:
        return "n/a"
    v = float(value)
    if abs(v) >= 1_000_000:
        return f"${v / 1_000_000:.1f}M"
    if abs(v) >= 10_000:
        return f"${v / 1_000:.0f}K"
    if abs(v) >= 1_000:
        return f"${v / 1_000:.1f}K"
    return f"${v:,.0f}"


def pct(value) -> str:
    return "n/a" if value is None or value != value else f"{float(value) * 100:.0f}%"


def _present(value) -> bool:
    return value is not None and value == value and value != ""


def user(user_id) -> str:
    """A mention of a Slack user id (ids are ours, not customer data, but checked anyway)."""
    text = str(user_id)
    return f"<@{text}>" if text.isalnum() else escape(text)


def text_size(blocks: Iterable[dict]) -> int:
    """Characters of text in ``blocks``: what Slack's msg_blocks_too_long counts."""

    def walk(node) -> int:
        if isinstance(node, dict):
            return sum(
                len(v) if k == "text" and isinstance(v, str) else walk(v) for k, v in node.items()
            )
        if isinstance(node, list):
            return sum(walk(v) for v in node)
        return 0

    return walk(list(blocks))


# --------------------------------------------------------------------------- list references


@dataclass(frozen=True)
class ListRef:
    """Which list a message shows, so a button can redraw it: scope text (with any propensity
    floor), page, and whether it was posted to the channel."""

    scope: str = ""
    page: int = 1
    public: bool = False

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> ListRef | None:
        try:
            data = json.loads(text or "")
            return cls(**data) if isinstance(data, dict) else None
        except (ValueError, TypeError):
            return None

    def at(self, page: int) -> ListRef:
        return ListRef(self.scope, page, self.public)


def action_id(name: str, key: str) -> str:
    """``name:<8 hex>``: action ids must be unique within a message, so each card's differ."""
    return f"{name}:{hashlib.sha1(key.encode()).hexdigest()[:8]}"


def action_pattern(name: str) -> re.Pattern:
    """What a listener matches: ``name`` with or without its per-card suffix."""
    return re.compile(rf"^{re.escape(name)}(:[\w-]+)?$")


def card_block_id(opportunity_id: str, ref: ListRef | None) -> str:
    """The card's actions block id: the opportunity, and the list to redraw when it fits."""
    full = json.dumps({"o": opportunity_id, "r": asdict(ref) if ref else None})
    if len(full) <= 255:
        return full
    return json.dumps({"o": opportunity_id, "r": None})[:255]


def parse_card_block_id(block_id: str) -> tuple[str, ListRef | None]:
    data = json.loads(block_id)
    ref = ListRef(**data["r"]) if data.get("r") else None
    return data["o"], ref


# --------------------------------------------------------------------------- cards


def deal_arr(opp: dict) -> str:
    """``+$18,000 ARR``, said to be an estimate when no catalog price or stated figure backs it
    (a guess is never shown as a quote)."""
    text = f"+{money(opp.get('expansion_arr'))} ARR"
    return text + " (estimate)" if opp.get("price_basis") == "estimate" else text


def card(opp: dict, *, ref: ListRef | None = None, actions: bool = True) -> list[dict]:
    """One opportunity: who, what, why, what next, the scores, who owns it, and its buttons."""
    evidence = [clip(escape(e), 240) for e in (opp.get("evidence") or [])[:3]]
    lines = [
        f"*{clip(escape(opp['account_name']), 150)}* · {money(opp.get('arr'))} ARR · "
        f"{escape(opp.get('segment') or 'n/a')}",
        f"*{escape(opp['type_label'])}*: {clip(escape(opp.get('description') or ''), 400)}",
        *(f"• {e}" for e in evidence),
        f"*Next step:* {clip(escape(opp.get('suggested_action') or ''), 300)}",
    ]
    scores = (
        f"*Tier {opp['tier']}* · score {float(opp['score']):.1f}/10 · "
        f"propensity {opp['propensity']}/100 · close {pct(opp.get('close_probability'))} · "
        f"{deal_arr(opp)} · EV {money(opp.get('expected_value'))}"
    )
    if _present(opp.get("caveat")):
        lines.append(f"_{clip(escape(opp['caveat']), 200)}_")
    owner = f"Account owner: {escape(opp['owner'])}" if _present(opp.get("owner")) else ""
    if _present(opp.get("assignee")):
        by = f" by {user(opp['assigned_by'])}" if _present(opp.get("assigned_by")) else ""
        owner += f" · Assigned to {user(opp['assignee'])}{by}"
    outcome = opp.get("outcome") or "open"
    status = ""
    if outcome != "open":
        label = OUTCOMES.get(outcome, outcome)
        until = opp.get("snoozed_until")
        status = f"*{label}*" + (f" until {str(until)[:10]}" if outcome == "snoozed" else "")
        if _present(opp.get("outcome_by")):
            status += f" by {user(opp['outcome_by'])}"
    blocks = [
        section("\n".join(lines)),
        context(*(t for t in (scores, owner, status) if t)),
    ]
    if actions:
        blocks.append(_card_actions(opp, ref))
    return blocks


def _card_actions(opp: dict, ref: ListRef | None) -> dict:
    select = {
        "type": "users_select",
        "action_id": action_id("assign_owner", opp["opportunity_id"]),
        "placeholder": plain("Assign owner"),
    }
    if _present(opp.get("assignee")) and str(opp["assignee"]).isalnum():
        select["initial_user"] = str(opp["assignee"])
    outcome = opp.get("outcome") or "open"
    choices = ["snoozed", "not_a_fit", "won", "lost"] if outcome == "open" else ["open"]
    if _present(opp.get("assignee")):
        choices.append("unassign")
    overflow = {
        "type": "overflow",
        "action_id": action_id("opportunity_outcome", opp["opportunity_id"]),
        "options": [{"text": plain(OVERFLOW_LABELS[c]), "value": c} for c in choices[:5]],
    }
    return {
        "type": "actions",
        "block_id": card_block_id(opp["opportunity_id"], ref),
        "elements": [
            button("Deep dive", action_id("deep_dive", opp["opportunity_id"]), opp["account_id"]),
            select,
            overflow,
        ],
    }


def replace_card(blocks: list[dict], opp: dict) -> list[dict] | None:
    """``blocks`` with the card of ``opp`` redrawn in place; ``None`` if it is not there."""
    for index, block in enumerate(blocks):
        if block.get("type") != "actions" or not block.get("block_id", "").startswith("{"):
            continue
        try:
            opportunity_id, ref = parse_card_block_id(block["block_id"])
        except (ValueError, KeyError, TypeError):
            continue
        if opportunity_id == opp["opportunity_id"] and index >= 2:
            return [*blocks[: index - 2], *card(opp, ref=ref), *blocks[index + 1 :]]
    return None


# --------------------------------------------------------------------------- list pages


@dataclass(frozen=True)
class Source:
    """A data source as a channel may see it: its name and when it last synced (never its
    location: a server path or a warehouse URL is not for the channel)."""

    name: str
    synced_at: datetime | None = None


def slack_date(at: datetime) -> str:
    """``at`` in each reader's own time zone (Slack's date formatting), UTC where it cannot."""
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    fallback = f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _source_text(sources: list[Source]) -> str:
    shown = [
        f"{escape(s.name)} (synced {slack_date(s.synced_at)})" if s.synced_at else escape(s.name)
        for s in sources[:3]
    ]
    more = f" and {len(sources) - 3} more" if len(sources) > 3 else ""
    return ", ".join(shown) + more if shown else "none synced"


def _summary_lines(summary: dict, sources: list[Source], as_of: str) -> tuple[str, str]:
    tiers = summary.get("tiers", {})
    tier_text = " · ".join(
        f"Tier {t}: {tiers[t]['count']}" for t in sorted(tiers) if tiers[t]["count"]
    )
    pri = summary.get("priorities", {})
    kept = []
    if summary.get("stabilize_first"):
        kept.append(f"{summary['stabilize_first']} to stabilize first")
    if summary.get("activation_accounts"):
        kept.append(f"{summary['activation_accounts']} with activation gaps")
    if summary.get("conversion_candidates"):
        kept.append(f"{summary['conversion_candidates']} trial/free to convert")
    text = (
        f"*{plural(summary.get('accounts_analyzed', 0), 'account')} scanned* · "
        f"{plural(summary.get('opportunities', 0), 'opportunity')} · "
        f"pipeline *{money(summary.get('expansion_arr'))}* · "
        f"expected value *{money(summary.get('expected_value'))}*\n"
        + (tier_text or "No scored opportunities")
        + f"\nHigh priority: {pri.get('high', 0)} · Medium: {pri.get('medium', 0)} · "
        f"Low: {pri.get('low', 0)}"
        + (f"\nKept apart (not upsell): {', '.join(kept)}" if kept else "")
    )
    gaps = summary.get("data_gaps") or []
    gap_text = "; ".join(f"{g['accounts']} {escape(g['gap'])}" for g in gaps[:4])
    meta = f"As of {as_of} · Data: {_source_text(sources)}" + (
        f" · Data gaps: {gap_text}" if gaps else ""
    )
    return text, meta


def list_message(
    *,
    title: str,
    summary: dict,
    sources: list[Source],
    as_of: str,
    opportunities: list[dict],
    ref: ListRef,
    ephemeral: bool,
    high_total: int | None = None,
    rest_total: int | None = None,
) -> dict:
    """One page of a find answer: header and summary, High-priority cards, then the rest.

    Cards are laid out over pages so that no page passes Slack's block count or text size;
    the compact Medium/Low list goes on the last page. At most :data:`MAX_LIST_CARDS` cards
    are paged through. ``opportunities`` may be only the head of each group (the first
    ``MAX_LIST_CARDS`` high, the first ``COMPACT_LIST_LINES`` others) when ``high_total`` and
    ``rest_total`` say how many there are in all.
    """
    high = [o for o in opportunities if o.get("priority") == "high"]
    others = [o for o in opportunities if o.get("priority") != "high"]
    high_total = len(high) if high_total is None else high_total
    high = high[:MAX_LIST_CARDS]
    rest = compact_list(others, total=rest_total)
    text, meta = _summary_lines(summary, sources, as_of)
    head = [header(f"Expansion opportunities: {title}"), section(text), context(meta)]
    if high_total > len(high):
        head.append(
            section(
                f"*High priority* ({high_total}; the first {len(high)} here, "
                "*Export CSV* has them all)"
            )
        )
    else:
        head.append(
            section(f"*High priority* ({len(high)})")
            if high
            else section("*No high-priority opportunities in this scope.*")
        )
    layout = _layout([card(o) for o in high], rest, head)
    page = min(max(ref.page, 1), len(layout))
    ref = ref.at(page)
    blocks = list(head)
    for index in layout[page - 1]:
        blocks += card(high[index], ref=ref)
    if page == len(layout):
        blocks += rest
    blocks += _footer(ref, len(layout), ephemeral)
    fallback = (
        f"Expansion opportunities: {escape(title)}: "
        f"{plural(summary.get('opportunities', 0), 'opportunity')}, "
        f"pipeline {money(summary.get('expansion_arr'))}"
    )
    return {"text": fallback, "blocks": blocks}


# What the footer (page buttons, files, share, page number) may take at most.
_FOOTER_BLOCKS, _FOOTER_CHARS = 2, 200


def _layout(cards: list[list[dict]], tail: list[dict], head: list[dict]) -> list[list[int]]:
    """Which cards go on which page (indexes), within the block and text budgets."""
    base_blocks = len(head) + _FOOTER_BLOCKS
    base_chars = text_size(head) + _FOOTER_CHARS
    pages: list[list[int]] = []
    current: list[int] = []
    n_blocks, n_chars = base_blocks, base_chars

    def fits(blocks: list[dict]) -> bool:
        return (
            n_blocks + len(blocks) <= MAX_BLOCKS
            and n_chars + text_size(blocks) <= MAX_MESSAGE_CHARS
        )

    for index, blocks in enumerate(cards):
        if current and (len(current) >= CARDS_PER_PAGE or not fits(blocks)):
            pages.append(current)
            current, n_blocks, n_chars = [], base_blocks, base_chars
        current.append(index)
        n_blocks += len(blocks)
        n_chars += text_size(blocks)
    if tail and current and not fits(tail):
        pages.append(current)
        current = []
    pages.append(current)
    return pages


def compact_list(opps: list[dict], *, total: int | None = None) -> list[dict]:
    """Medium and Low priority as one line each, in a few sections (``total``: how many there
    are when ``opps`` is only the first of them)."""
    if not opps:
        return []
    total = len(opps) if total is None else total
    lines = []
    for o in opps[:COMPACT_LIST_LINES]:
        signal = (o.get("evidence") or [o.get("description") or ""])[0]
        lines.append(
            f"• *{clip(escape(o['account_name']), 80)}* ({money(o.get('arr'))}) · "
            f"{escape(o['type_label'])} · {o.get('priority', '').capitalize()}, "
            f"Tier {o['tier']}: {clip(escape(signal), 110)} → "
            f"{clip(escape(o.get('suggested_action') or ''), 90)}"
        )
    if total > COMPACT_LIST_LINES:
        lines.append(f"…and {total - COMPACT_LIST_LINES} more: *Export CSV* has the full list.")
    blocks = [section(f"*Medium / Low priority* ({total})")]
    chunk: list[str] = []
    for line in lines:
        if sum(len(x) + 1 for x in chunk) + len(line) > 2900:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return blocks


def _footer(ref: ListRef, pages: int, ephemeral: bool) -> list[dict]:
    elements = []
    if ref.page > 1:
        elements.append(button("◀ Previous page", "list_page:prev", ref.at(ref.page - 1).encode()))
    if ref.page < pages:
        elements.append(button("Next page ▶", "list_page:next", ref.at(ref.page + 1).encode()))
    elements += [
        button("Download playbook", "download_playbook", ref.encode()),
        button("Export CSV", "export_csv", ref.encode()),
    ]
    if ephemeral:
        elements.append(button("Share in channel", "share_list", ref.encode(), style="primary"))
    return [
        {"type": "actions", "block_id": "list_footer", "elements": elements},
        context(f"Page {ref.page} of {pages}"),
    ]


def scope_picker(message: str | None = None) -> dict:
    """Seed 004's question when the scope is missing or ambiguous, with one button per scope."""
    question = (
        "Which segment or scope should I use? (e.g. Enterprise, renewing in Q4, all accounts)"
    )
    blocks = []
    if message:
        blocks.append(section(escape(message)))
    blocks += [
        section(f"*{question}*"),
        {
            "type": "actions",
            "block_id": "scope_picker",
            "elements": [
                button(label, f"pick_scope:{i}", value)
                for i, (label, value) in enumerate(SCOPE_PICKS)
            ],
        },
        context(
            "Or type it: `/find-expansion-opportunities enterprise 60` · `renewing in 90 days` · "
            "`owner maya@example.com` · an account name · add `public` to post in the channel"
        ),
    ]
    return {"text": question, "blocks": blocks}


def notice(text: str) -> dict:
    """A one-line message (``text`` is already safe mrkdwn: the fallback is the same text)."""
    return {"text": text, "blocks": [section(text)]}


# --------------------------------------------------------------------------- digest
# The digest's parent and thread messages are built in bot/digest_blocks.py from card() below.


# --------------------------------------------------------------------------- deep-dive


def deep_dive_messages(ctx: dict) -> list[dict]:
    """An account's expansion profile (seed 002's ACCOUNT template) as one or more messages."""
    p = ctx["p"]
    name = escape(p["name"])

    def num(v, digits: int = 0) -> str:
        return "n/a" if v is None or v != v else f"{float(v):,.{digits}f}"

    current = [
        f"*ARR:* {money(p.get('arr'))} · *Segment:* {escape(p.get('segment') or 'n/a')}"
        + (f" · {escape(p['industry'])}" if _present(p.get("industry")) else ""),
        f"*Plan:* {escape(p.get('plan') or 'n/a')} · *Seats:* {num(p.get('active_seats'))} active "
        f"of {num(p.get('licensed_seats'))} ({pct(p.get('seat_utilization'))})",
        f"*Contract:* {escape(p.get('contract_term') or 'n/a')} · *Renewal:* "
        f"{str(p.get('renewal_date') or 'n/a')[:10]} ({num(p.get('months_to_renewal'), 1)} months)",
        f"*Owner:* {escape(p.get('owner') or 'unassigned')}",
    ]
    trend = p.get("usage_trend") or "n/a"
    if _present(p.get("usage_trend_pct")):
        trend += f" ({float(p['usage_trend_pct']):+.0f}%)"
    usage = [
        f"*Trend:* {escape(trend)} · *Intensity:* {escape(p.get('usage_intensity') or 'n/a')}",
        f"*Features:* {num(p.get('features_used'))} of {num(p.get('features_entitled'))} entitled",
        "*Approaching limits:* "
        + (escape(p["limits_near"]) if _present(p.get("limits_near")) else "No"),
    ]
    health = [
        f"*Health:* {num(p.get('health_score'))}/100 ({escape(p.get('health_label') or 'n/a')}) · "
        f"*NPS:* {num(p.get('nps'))} · *CSAT:* {num(p.get('csat'), 1)}",
        f"*Support tickets (90d):* {num(p.get('support_tickets_90d'))} · *Engagement:* "
        f"{escape(str(p.get('engagement') or 'n/a')).capitalize()}",
        f"*Multi-threading:* {num(p.get('contacts'))} contacts across "
        f"{num(p.get('departments_engaged'))} departments",
    ]
    growth = [
        f"*Company growth:* {escape(p.get('company_growth') or 'n/a')}"
        + (
            f" (headcount {float(p['employee_growth_pct']):+.0f}% in 12 months)"
            if _present(p.get("employee_growth_pct"))
            else ""
        ),
        f"*Propensity:* {p.get('propensity')}/100 · *Readiness:* "
        f"{escape(p.get('readiness') or 'n/a')}",
    ]
    bench_rows = [
        f"{clip(b['label'], 28):<28} {num(b['value']):>9} {num(b['average']):>9} {num(b['top']):>9}"
        for b in ctx["benchmarks"]
    ]
    bench = (
        f"*Benchmark vs {escape(p.get('segment') or 'segment')} top quartile*\n```"
        + escape(f"{'':<28} {'account':>9} {'average':>9} {'top 25%':>9}\n" + "\n".join(bench_rows))
        + "```"
    )
    guards = [
        f":warning: *Stabilize first:* {escape(s['reason'])}. {escape(s['action'])}."
        for s in ctx["stabilize"]
    ]
    guards += [
        f":seedling: *Activation:* {escape(a['detail'])} → {escape(a['action'])}"
        for a in ctx["activation"]
    ]
    guards += [
        f":hourglass: *Conversion candidate:* {escape(c['status'])}, "
        f"score {c['conversion_score']}/100. {escape(c['action'])}"
        for c in ctx["conversion"]
    ]
    guards += [
        f":grey_question: *Data gap:* {escape(g['gap'])}: {escape(g['impact'])}"
        for g in ctx["gaps"]
    ]
    first = [
        header(f"Deep dive: {p['name']}"),
        context(
            f"{escape(p['account_id'])} · as of {ctx['as_of']} · {plural(len(ctx['opps']), 'opportunity')}"
        ),
        section("*Current state*\n" + "\n".join(current)),
        section("*Usage profile*\n" + "\n".join(usage)),
        section("*Relationship health*\n" + "\n".join(health)),
        section("*Growth signals*\n" + "\n".join(growth)),
        section(bench),
    ]
    if guards:
        first.append(section("\n".join(guards)))
    if not ctx["opps"]:
        first.append(section("No expansion opportunity today."))
    blocks = list(first)
    for index, o in enumerate(ctx["opps"], start=1):
        blocks += _opportunity_detail(index, o)
    return pack(blocks, text=f"Deep dive: {name}")


def _numbered(items: Iterable[str]) -> str:
    return "\n".join(f"{i}. {escape(x)}" for i, x in enumerate(items, start=1))


def _opportunity_detail(index: int, o: dict) -> list[dict]:
    play = o["play"]
    head = (
        f"*{index}. {escape(o['type_label'])}: {escape(o.get('description') or '')}*\n"
        f"Tier {o['tier']} · score {float(o['score']):.1f}/10 (revenue {o['revenue_score']}, "
        f"effort {o['effort_score']}, likelihood {o['likelihood_score']}) · propensity "
        f"{o['propensity']}/100 · close {pct(o.get('close_probability'))} · "
        f"{deal_arr(o)} · EV {money(o.get('expected_value'))}\n"
        f"*Timing:* {escape(o.get('timing') or '')} · act by {str(o.get('deadline') or 'n/a')[:10]}"
        f"\n*Priced from:* {clip(escape(o.get('pricing') or ''), 300)}"
        + (f"\n_{escape(o['caveat'])}_" if _present(o.get("caveat")) else "")
        + (f"\n*Alternative:* {escape(o['options'])}" if _present(o.get("options")) else "")
    )
    why = (
        "*Evidence*\n"
        + "\n".join(f"• {escape(e)}" for e in o.get("evidence") or [])
        + "\n*Why this score*\n"
        f"• Revenue {o['revenue_score']}/10: {escape(o.get('revenue_factors') or '')}\n"
        f"• Effort {o['effort_score']}/10: {escape(o.get('effort_factors') or '')}\n"
        f"• Likelihood {o['likelihood_score']}/10: {escape(o.get('likelihood_factors') or '')}"
        + (
            f"\n*What would make it Tier 1:* {escape(o.get('tier1_path') or '')}"
            if o["tier"] > 1
            else ""
        )
    )
    pitch = (
        f"*Recommended pitch*\n>{escape(play['opening'])}\n"
        + "\n".join(f"• {escape(p)}" for p in play["points"])
        + "\n*Approach*\n"
        + _numbered(play["approach"])
    )
    risks = (
        "*Objections to expect*\n"
        + "\n".join(f"• “{escape(q)}” → {escape(a)}" for q, a in play["objections"])
        + "\n*Risks*\n"
        + "\n".join(f"• {escape(r)}" for r in play["risks"])
    )
    return [{"type": "divider"}, section(head), section(why), section(pitch), section(risks)]


def pack(blocks: list[dict], *, text: str, max_blocks: int = MAX_BLOCKS) -> list[dict]:
    """Split ``blocks`` over as few messages as fit Slack's block and size limits."""
    messages: list[list[dict]] = [[]]
    for block in blocks:
        current = messages[-1]
        if current and (
            len(current) + 1 > max_blocks or text_size([*current, block]) > MAX_MESSAGE_CHARS
        ):
            messages.append([])
        messages[-1].append(block)
    total = len(messages)
    return [
        {"text": text if total == 1 else f"{text} ({n}/{total})", "blocks": m}
        for n, m in enumerate(messages, start=1)
    ]


# --------------------------------------------------------------------------- App Home


def home_view(
    *, summary: dict, sources: list[Source], as_of: str, mine: list[dict], closed_mine: int
) -> dict:
    """The App Home tab: the portfolio in short, then the viewer's opportunities as cards."""
    text, meta = _summary_lines(summary, sources, as_of)
    blocks = [
        header("Expansion opportunities"),
        section(text),
        context(meta),
        {"type": "divider"},
        header(f"My opportunities ({len(mine)})"),
    ]
    if not mine:
        blocks.append(
            section(
                "Nothing is assigned to you yet. Run `/find-expansion-opportunities` and pick "
                "yourself in *Assign owner* on a card."
            )
        )
    shown = 0
    for opp in mine[:HOME_CARDS]:
        more = card(opp)
        # A view has a text budget like a message: stop before a card would pass it.
        if shown and text_size([*blocks, *more]) > MAX_MESSAGE_CHARS - 1_000:
            break
        blocks += more
        shown += 1
    if len(mine) > shown:
        blocks.append(context(f"…and {len(mine) - shown} more assigned to you."))
    if closed_mine:
        blocks.append(context(f"{closed_mine} of your opportunities are snoozed or closed."))
    blocks.append(
        context("Refreshed when you open this tab · `/find-expansion-opportunities` for any scope")
    )
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}
