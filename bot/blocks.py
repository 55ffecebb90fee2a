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
from datetime import UTC, date, datetime

from expansion.numbers import count, money, pct, signed_money
from expansion.playbook import plural
from expansion.workflow import OUTCOMES

MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
# Slack reports msg_blocks_too_long at about 13k characters of text; keep a wide margin.
MAX_MESSAGE_CHARS = 10_000
#: A modal's text budget (Slack states none beyond 100 blocks; a long account plan stops here).
MAX_VIEW_CHARS = 24_000
CARDS_PER_PAGE = 8
#: Blocks a list page may take: 8 cards of 4 blocks, the head and the footer.
MAX_PAGE_BLOCKS = 40
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
    """``text`` cut to ``limit`` characters with an ellipsis, never inside a ``<...>`` (a date,
    a mention or a link cut in half would show as raw text)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    return cut.rstrip() + "…"


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
#
# A card is four blocks: what the deal is and why (one section: the account, the deal in words
# and its value, then the strongest facts), who and when (one context line: tier, how likely,
# act by, renewal, owner), what to do (one actions block: Claim, Open account plan, Assign, and
# the outcomes behind a confirm), and a divider. Scores, propensity, expected value and the
# factor breakdown are in the account plan (the deep-dive modal), not on the card.

CARD_BLOCKS = 4
#: Facts on a card, and the characters they may take together.
CARD_FACTS = 3
CARD_FACT_CHARS = 320
FACT_SEP = " · "
_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_EXACT_MONEY = re.compile(r"\$(\d{1,3}(?:,\d{3})+)(?![\d,]|\.\d)")
_NUMBER = re.compile(r"[+-]?\$?\d[\d,.]*%?")
OUTCOME_CONFIRM = {
    "snoozed": "Snooze",
    "not_a_fit": "Not a fit",
    "won": "Won",
    "lost": "Lost",
}


def _day(value) -> date | None:
    if not _present(value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def day_words(value) -> str:
    """``Nov 30``: a day in plain text (notification text, where Slack shows no dates)."""
    d = _day(value)
    return f"{d:%b} {d.day}" if d else "n/a"


def slack_day(value) -> str:
    """A calendar day as Slack's ``<!date>`` (each reader's own format), ``n/a`` when missing.

    The moment is noon UTC of that day, so readers from UTC-11 to UTC+11 all see the same day.
    """
    d = _day(value)
    if d is None:
        return "n/a"
    epoch = int(datetime(d.year, d.month, d.day, 12, tzinfo=UTC).timestamp())
    return f"<!date^{epoch}^{{date_short}}|{d:%b} {d.day}, {d.year}>"


def slack_text(text: object) -> str:
    """Engine or customer text made safe for mrkdwn, in the bot's number and date style: escaped,
    exact money compacted (``$57,600`` -> ``$58K``) and ISO days as ``<!date>``."""
    out = _EXACT_MONEY.sub(lambda m: money(float(m.group(1).replace(",", ""))), escape(text))
    return _ISO_DAY.sub(lambda m: slack_day(m.group(0)), out)


def _metric_name(key: str) -> str:
    import pandas as pd

    from expansion.profile import metric_label

    return str(metric_label(pd.Series([key])).iloc[0])


def deal_words(opp: dict) -> str:
    """The deal in a few words: ``add 120 seats for Operations``, ``upgrade to Enterprise``."""
    kind = opp.get("type")
    product = str(opp["product_name"]) if _present(opp.get("product_name")) else ""
    qty = count(opp["quantity"]) if _present(opp.get("quantity")) else ""
    dept = str(opp["department"]) if _present(opp.get("department")) else ""
    key = str(opp.get("key") or "")
    if kind == "seat_expansion" and qty:
        return f"add {qty} seats" + (f" for {dept}" if dept else "")
    if kind == "new_department" and qty:
        if key.startswith("office:"):
            return f"equip the new office ({qty} seats)"
        if dept:
            return f"bring {dept} on board ({qty} seats)"
    if kind in ("tier_upgrade", "support_upgrade") and product:
        return f"upgrade to {product}"
    if kind == "usage_expansion" and key.startswith("metric:"):
        metric = _metric_name(key.removeprefix("metric:"))
        return f"raise the {metric} limit" + (f" ({product})" if product else "")
    if kind in ("add_on", "professional_services") and product:
        return f"add {product}"
    if kind == "new_use_case":
        return "a new use case" + (f" with {product}" if product else "")
    if kind == "competitive_displacement":
        return f"replace a competitor's tool with {product or 'the platform'}"
    text = str(opp.get("description") or opp.get("type_label") or "expansion")
    return clip(text[:1].lower() + text[1:], 100)


def deal_arr(opp: dict) -> str:
    """``+$18K ARR``, said to be an estimate when no catalog price or stated figure backs it
    (a guess is never shown as a quote)."""
    text = f"{signed_money(opp.get('expansion_arr'))} ARR"
    return text + " (estimate)" if opp.get("price_basis") == "estimate" else text


def _growth(opp: dict) -> str:
    """``(+29%)``: the deal against today's ARR."""
    arr, deal = opp.get("arr"), opp.get("expansion_arr")
    if not (_present(arr) and _present(deal)) or float(arr) <= 0:
        return ""
    return f" (+{float(deal) / float(arr) * 100:.0f}%)"


def decision_text(opp: dict, *, tier: bool = True) -> str:
    """The decision in one line of plain text, for notifications (escaped like the blocks):
    ``Tier 1: Bluefin Analytics, add 20 seats (+$9.6K). Act by Nov 23.`` (``tier=False``
    leaves out the leading tier, for a text that says it already)."""
    deadline = f" Act by {day_words(opp['deadline'])}." if _present(opp.get("deadline")) else ""
    return (
        (f"Tier {opp['tier']}: " if tier else "") + f"{clip(escape(opp['account_name']), 120)}, "
        f"{escape(deal_words(opp))} ({signed_money(opp.get('expansion_arr'))}).{deadline}"
    )


def _clauses(text: str) -> list[tuple[str, str]]:
    """``text`` cut into clauses at ``; `` and ``, `` outside parentheses and outside Slack's
    ``<...>`` (a date's fallback "Nov 9, 2026", a link): (clause, separator that followed it)."""
    out, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        depth += (ch in "(<") - (ch in ")>")
        if depth <= 0 and text.startswith(("; ", ", "), i):
            out.append((text[start:i], text[i : i + 2]))
            start = i = i + 2
            continue
        i += 1
    out.append((text[start:], ""))
    return [(c, s) for c, s in out if c.strip()]


def _norm(clause: str) -> str:
    return re.sub(r"\W+", " ", clause).strip().lower()


def _numbers(clause: str) -> set[str]:
    return {n.strip(".,").lstrip("+") for n in _NUMBER.findall(clause)}


def card_facts(opp: dict, seen: set[str] | None = None) -> list[str]:
    """The strongest facts of a card as safe mrkdwn, in plain words.

    Evidence comes strongest first; a clause that says again what this card already said (the
    same words, or only figures it already gave: "headcount +18%" after "... headcount +18%")
    is left out, and so is one another card of the page showed (``seen``, updated here). A card
    whose facts all stood on earlier cards says what it proposes instead.
    """
    seen = set() if seen is None else seen
    mine: set[str] = set()
    figures: set[str] = set()
    facts: list[str] = []
    size = 0
    for evidence in opp.get("evidence") or []:
        kept = []
        for clause, sep in _clauses(str(evidence)):
            key, nums = _norm(clause), _numbers(clause)
            if key in seen or key in mine or (nums and nums <= figures):
                continue
            kept.append((clause, sep))
            mine.add(key)
            figures |= nums
        if not kept:
            continue
        text = "".join(c + s for c, s in kept).rstrip(",; ")
        text = text[:1].upper() + text[1:]  # a clause left first starts the sentence
        fact = clip(slack_text(text), 200)
        if facts and size + len(fact) > CARD_FACT_CHARS:
            break
        facts.append(fact)
        size += len(fact)
        if len(facts) == CARD_FACTS:
            break
    if _present(opp.get("caveat")) and len(facts) < CARD_FACTS:
        facts.append(":warning: _" + clip(slack_text(opp["caveat"]), 160) + "_")
    if not facts:
        fallback = str(opp.get("description") or opp.get("type_label") or "")
        if _norm(fallback) not in seen:
            facts.append(clip(slack_text(fallback), 200))
            mine.add(_norm(fallback))
    seen |= mine
    return facts


def owner_text(opp: dict) -> str:
    """The account owner: an @mention when the CRM e-mail matched a Slack user, else the e-mail."""
    if _present(opp.get("owner_user")):
        return user(opp["owner_user"])
    if _present(opp.get("owner")):
        return escape(opp["owner"])
    return "no owner in the CRM"


def card(
    opp: dict,
    *,
    ref: ListRef | None = None,
    actions: bool = True,
    seen: set[str] | None = None,
) -> list[dict]:
    """One opportunity as a card of at most :data:`CARD_BLOCKS` blocks (the last a divider).

    ``opp`` is an opportunity record (:meth:`expansion.pipeline.FindResult.opportunity_records`),
    with ``owner_user`` (the owner's Slack id, :meth:`bot.permissions.OwnerDirectory.resolve`)
    and ``renewal_date`` when known. ``seen`` is shared by the cards of one message so that no
    fact is said twice on a page (:func:`cards` does that). ``actions=False`` leaves the buttons
    out (a card quoted in a notice).
    """
    facts = card_facts(opp, seen)
    name = clip(escape(opp["account_name"]), 150)
    line1 = f"*{name}*: {escape(deal_words(opp))} · *{deal_arr(opp)}*{_growth(opp)}"
    who = [
        f"*Tier {opp['tier']}*",
        f"{pct(opp.get('close_probability'))} likely",
    ]
    if _present(opp.get("deadline")):
        who.append(f"act by {slack_day(opp['deadline'])}")
    if _present(opp.get("renewal_date")):
        who.append(f"renews {slack_day(opp['renewal_date'])}")
    who.append(f"owner {owner_text(opp)}")
    if _present(opp.get("assignee")):
        by = opp.get("assigned_by")
        if _present(by) and str(by) == str(opp["assignee"]):
            who.append(f"claimed by {user(opp['assignee'])}")
        else:
            who.append(
                f"assigned to {user(opp['assignee'])}" + (f" by {user(by)}" if _present(by) else "")
            )
    if (
        _present(opp.get("crm"))
        and opp.get("crm_status") == "written"
        and not str(opp.get("crm_url") or "").startswith("https://")
    ):
        who.append(f"in {escape(opp['crm'])}")  # no link to show (HubSpot without portal_id)
    outcome = opp.get("outcome") or "open"
    if outcome != "open":
        label = OUTCOMES.get(outcome, outcome)
        status = f"*{label}*"
        if outcome == "snoozed" and _present(opp.get("snoozed_until")):
            status += f" until {slack_day(opp['snoozed_until'])}"
        if _present(opp.get("outcome_by")):
            by = str(opp["outcome_by"])
            # Read back from the CRM (actor "crm:<source>"): say where, not the actor's id.
            status += (
                f" in {escape(opp.get('crm') or 'the CRM')}"
                if by.startswith("crm:")
                else f" by {user(by)}"
            )
        who.append(status)
    blocks = [section(line1 + "\n" + "\n".join(facts)), context(" · ".join(who))]
    if actions:
        blocks.append(_card_actions(opp, ref))
    blocks.append({"type": "divider"})
    return blocks


def cards(
    opps: list[dict], *, ref: ListRef | None = None, actions: bool = True
) -> list[list[dict]]:
    """The cards of one message, in order, no fact said twice among them."""
    seen: set[str] = set()
    return [card(o, ref=ref, actions=actions, seen=seen) for o in opps]


def _label(text: str) -> str:
    """An ``accessibility_label`` (Slack: 75 characters)."""
    return clip(text, 75)


def _card_actions(opp: dict, ref: ListRef | None) -> dict:
    oid = opp["opportunity_id"]
    name = str(opp["account_name"])
    deal = deal_words(opp)
    outcome = opp.get("outcome") or "open"
    elements = []
    if outcome == "open" and not _present(opp.get("assignee")):
        claim = button("Claim", action_id("claim", oid), oid, style="primary")
        claim["accessibility_label"] = _label(f"Claim {name}: {deal} (assign it to me)")
        elements.append(claim)
    plan = button("Open account plan", action_id("open_plan", oid), str(opp["account_id"]))
    plan["accessibility_label"] = _label(f"Open the account plan of {name}: {deal}")
    elements.append(plan)
    crm_button = _crm_button(opp, name, deal)
    if crm_button is not None:
        elements.append(crm_button)
    # Assign opens a modal listing the suggested owners first (bot/team.py); cards posted
    # before it carry a users_select with the same action id, still honoured.
    assign = button(
        "Reassign…" if _present(opp.get("assignee")) else "Assign…",
        action_id("assign_owner", oid),
        oid,
    )
    assign["accessibility_label"] = _label(f"Assign {name}: {deal} (suggested owners first)")
    elements.append(assign)
    choices = ["snoozed", "not_a_fit", "won", "lost"] if outcome == "open" else ["open"]
    if _present(opp.get("assignee")):
        choices.append("unassign")
    elements.append(
        {
            "type": "overflow",
            "action_id": action_id("opportunity_outcome", oid),
            "options": [{"text": plain(OVERFLOW_LABELS[c]), "value": c} for c in choices[:5]],
            "confirm": {
                "title": plain("Change this opportunity?", 100),
                "text": mrkdwn(
                    clip(
                        f"*{clip(escape(name), 80)}*: {escape(deal)}. Won, lost and not a fit "
                        "take it off the lists and count in the results; a snooze hides it for "
                        "30 days. *Reopen* in this menu undoes any of them.",
                        300,
                    )
                ),
                "confirm": plain("Yes, change it", 30),
                "deny": plain("Cancel", 30),
            },
        }
    )
    return {"type": "actions", "block_id": card_block_id(oid, ref), "elements": elements}


def _crm_button(opp: dict, name: str, deal: str) -> dict | None:
    """*Create in HubSpot* (or Salesforce) when write-back is on and the opportunity has no CRM
    record yet, *Retry in HubSpot* after a failed write, *Open in HubSpot* (a link to the record)
    once it is there; ``None`` when write-back is off, or for a record without a link (no
    ``[crm] portal_id``)."""
    crm = opp.get("crm")
    if not _present(crm):
        return None
    oid = opp["opportunity_id"]
    status = opp.get("crm_status")
    if status == "written":
        url = opp.get("crm_url")
        if not _present(url) or not str(url).startswith("https://"):
            return None
        out = {
            "type": "button",
            "text": plain(f"Open in {crm}"),
            "action_id": action_id("crm_open", oid),
            "url": str(url)[:3000],
        }
        out["accessibility_label"] = _label(f"Open {name} in {crm}: {deal}")
        return out
    verb = "Retry" if status == "failed" else "Create"
    out = button(f"{verb} in {crm}", action_id("crm_create", oid), oid)
    out["accessibility_label"] = _label(f"{verb} {name} in {crm}: {deal}")
    return out


def _card_sections(blocks: list[dict]) -> list[tuple[int, int, int]]:
    """(start, actions, end) of every card in ``blocks``: its actions block finds it."""
    found = []
    for index, block in enumerate(blocks):
        if block.get("type") != "actions" or not block.get("block_id", "").startswith("{"):
            continue
        end = index + 1
        if end < len(blocks) and blocks[end].get("type") == "divider":
            end += 1
        found.append((index - 2, index, end))
    return found


def _said(blocks: list[dict]) -> set[str]:
    """The facts the cards in ``blocks`` show, as :func:`card_facts` remembers them."""
    out = set()
    for block in blocks:
        text = (block.get("text") or {}).get("text", "") if block.get("type") == "section" else ""
        for line in text.split("\n")[1:]:
            for fact in line.split(FACT_SEP):
                out |= {_norm(c) for c, _ in _clauses(fact)}
    return out


def replace_card(blocks: list[dict], opp: dict) -> list[dict] | None:
    """``blocks`` with the card of ``opp`` redrawn in place; ``None`` if it is not there."""
    for start, actions, end in _card_sections(blocks):
        try:
            opportunity_id, ref = parse_card_block_id(blocks[actions]["block_id"])
        except (ValueError, KeyError, TypeError):
            continue
        if opportunity_id == opp["opportunity_id"] and start >= 0:
            others = [b for s, _, e in _card_sections(blocks) if s != start for b in blocks[s:e]]
            redrawn = card(opp, ref=ref, seen=_said(others))
            return [*blocks[:start], *redrawn, *blocks[end:]]
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
        f"*{signed_money(summary.get('expansion_arr'))} ARR* in all\n"
        + (tier_text or "No scored opportunities")
        + (f"\nKept apart (not upsell): {', '.join(kept)}" if kept else "")
    )
    gaps = summary.get("data_gaps") or []
    gap_text = "; ".join(f"{g['accounts']} {escape(g['gap'])}" for g in gaps[:4])
    meta = f"As of {slack_day(as_of)} · Data: {_source_text(sources)}" + (
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
    """One page of a find answer: header and summary, the best plays as cards, then the rest.

    The cards are the high-priority opportunities (:data:`CARDS_PER_PAGE` a page, no page over
    :data:`MAX_PAGE_BLOCKS` blocks or Slack's text size); the others are one line each in a
    compact list on the last page. At most :data:`MAX_LIST_CARDS` cards
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
                f"*Start with these* ({high_total}; the first {len(high)} here, "
                "*Export CSV* has them all)"
            )
        )
    else:
        head.append(
            section(f"*Start with these* ({len(high)})")
            if high
            else section("*Nothing stands out in this scope yet*: the list below has the rest.")
        )
    # Pages are laid out with each card drawn alone (the longest it can be: on a page, facts
    # another card already gave are left out, so a card only gets shorter).
    layout = _layout([card(o) for o in high], rest, head)
    page = min(max(ref.page, 1), len(layout))
    ref = ref.at(page)
    blocks = list(head)
    for drawn in cards([high[i] for i in layout[page - 1]], ref=ref):
        blocks += drawn
    if page == len(layout):
        blocks += rest
    blocks += _footer(ref, len(layout), ephemeral)
    top = high[0] if high else (others[0] if others else None)
    fallback = f"Expansion opportunities, {escape(title)}: " + (
        decision_text(top) if top else "no opportunities in this scope."
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
            n_blocks + len(blocks) <= MAX_PAGE_BLOCKS
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
    """The opportunities not shown as cards, one line each, in a few sections (``total``: how
    many there are when ``opps`` is only the first of them)."""
    if not opps:
        return []
    total = len(opps) if total is None else total
    lines = []
    for o in opps[:COMPACT_LIST_LINES]:
        lines.append(
            f"• *{clip(escape(o['account_name']), 80)}*: {escape(deal_words(o))} · "
            f"{signed_money(o.get('expansion_arr'))} · Tier {o['tier']}, "
            f"{pct(o.get('close_probability'))} likely"
        )
    if total > COMPACT_LIST_LINES:
        lines.append(f"…and {total - COMPACT_LIST_LINES} more: *Export CSV* has the full list.")
    blocks = [section(f"*Also in this scope* ({total})")]
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
        elements.append(button("Share in channel", "share_list", ref.encode()))
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


def deep_dive_messages(ctx: dict, *, owner_user: str | None = None) -> list[dict]:
    """An account's expansion profile (seed 002's ACCOUNT template) as one or more messages
    (posted in a thread: the digest's top accounts, a DM)."""
    return pack(
        deep_dive_blocks(ctx, owner_user=owner_user), text=f"Deep dive: {escape(ctx['p']['name'])}"
    )


def deep_dive_blocks(ctx: dict, *, owner_user: str | None = None) -> list[dict]:
    """The blocks of an account's deep-dive, for messages or the account-plan modal."""
    p = ctx["p"]

    def num(v, digits: int = 0) -> str:
        return count(v, digits)

    current = [
        f"*ARR:* {money(p.get('arr'))} · *Segment:* {escape(p.get('segment') or 'n/a')}"
        + (f" · {escape(p['industry'])}" if _present(p.get("industry")) else ""),
        f"*Plan:* {escape(p.get('plan') or 'n/a')} · *Seats:* {num(p.get('active_seats'))} active "
        f"of {num(p.get('licensed_seats'))} ({pct(p.get('seat_utilization'))})",
        f"*Contract:* {escape(p.get('contract_term') or 'n/a')} · *Renewal:* "
        f"{slack_day(p.get('renewal_date'))} ({num(p.get('months_to_renewal'), 1)} months)",
        f"*Owner:* {owner_text({'owner': p.get('owner'), 'owner_user': owner_user})}",
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

    # One line per dimension, not a fixed-width table: a table wraps on a phone.
    def figure(b: dict, v) -> str:
        if b.get("dimension") == "arr":
            return money(v)
        return num(v) + ("%" if b["label"].endswith("%") and _present(v) else "")

    bench = f"*Benchmark vs {escape(p.get('segment') or 'segment')} peers*\n" + "\n".join(
        f"• {escape(clip(b['label'].removesuffix(' %'), 60))}: *{figure(b, b['value'])}* "
        f"(average {figure(b, b['average'])}, top 25% {figure(b, b['top'])})"
        for b in ctx["benchmarks"]
    )
    guards = [
        f":warning: *Stabilize first:* {slack_text(s['reason'])}. {slack_text(s['action'])}."
        for s in ctx["stabilize"]
    ]
    guards += [
        f":seedling: *Activation:* {slack_text(a['detail'])} → {slack_text(a['action'])}"
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
            f"{escape(p['account_id'])} · as of {slack_day(ctx['as_of'])} · "
            f"{plural(len(ctx['opps']), 'opportunity')}"
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
    owner = p.get("owner")
    if owner_user and isinstance(owner, str) and owner:
        # The plays name the owner by e-mail ("x@example.com: license audit..."): a mention.
        for block in blocks:
            if block.get("type") == "section":
                block["text"] = mrkdwn(
                    block["text"]["text"].replace(escape(owner), user(owner_user))
                )
    return blocks


def _numbered(items: Iterable[str]) -> str:
    return "\n".join(f"{i}. {slack_text(x)}" for i, x in enumerate(items, start=1))


def _opportunity_detail(index: int, o: dict) -> list[dict]:
    play = o["play"]
    head = (
        f"*{index}. {escape(o['type_label'])}: {escape(o.get('description') or '')}*\n"
        f"*Tier {o['tier']}* · {pct(o.get('close_probability'))} likely · *{deal_arr(o)}* · "
        f"expected value {money(o.get('expected_value'))}\n"
        f"Score {float(o['score']):.1f}/10 (revenue {o['revenue_score']}, "
        f"effort {o['effort_score']}, likelihood {o['likelihood_score']}) · account propensity "
        f"{o['propensity']}/100\n"
        f"*Timing:* {slack_text(o.get('timing') or '')} · act by {slack_day(o.get('deadline'))}"
        f"\n*Priced from:* {clip(slack_text(o.get('pricing') or ''), 300)}"
        + (f"\n_{escape(o['caveat'])}_" if _present(o.get("caveat")) else "")
        + (f"\n*Alternative:* {escape(o['options'])}" if _present(o.get("options")) else "")
    )
    why = (
        "*Evidence*\n"
        + "\n".join(f"• {slack_text(e)}" for e in o.get("evidence") or [])
        + "\n*Why this score*\n"
        f"• Revenue {o['revenue_score']}/10: {slack_text(o.get('revenue_factors') or '')}\n"
        f"• Effort {o['effort_score']}/10: {slack_text(o.get('effort_factors') or '')}\n"
        f"• Likelihood {o['likelihood_score']}/10: {slack_text(o.get('likelihood_factors') or '')}"
        + (
            f"\n*What would make it Tier 1:* {slack_text(o.get('tier1_path') or '')}"
            if o["tier"] > 1
            else ""
        )
    )
    pitch = (
        f"*Recommended pitch*\n>{slack_text(play['opening'])}\n"
        + "\n".join(f"• {slack_text(p)}" for p in play["points"])
        + "\n*Approach*\n"
        + _numbered(play["approach"])
    )
    risks = (
        "*Objections to expect*\n"
        + "\n".join(f"• “{slack_text(q)}” → {slack_text(a)}" for q, a in play["objections"])
        + "\n*Risks*\n"
        + "\n".join(f"• {slack_text(r)}" for r in play["risks"])
    )
    return [{"type": "divider"}, section(head), section(why), section(pitch), section(risks)]


MODAL_TITLE = "Account plan"


@dataclass(frozen=True)
class PlanPlace:
    """Where an account-plan modal was opened from, kept in its ``private_metadata``: the
    account, the opportunity whose card it was, and the channel and thread to share it in."""

    account_id: str
    opportunity_id: str = ""
    channel: str = ""
    thread_ts: str = ""

    def encode(self) -> str:
        return json.dumps(
            {
                "a": self.account_id,
                "o": self.opportunity_id,
                "c": self.channel,
                "t": self.thread_ts,
            },
            separators=(",", ":"),
        )[:3000]

    @classmethod
    def decode(cls, text: str | None) -> PlanPlace | None:
        try:
            data = json.loads(text or "")
            return cls(str(data["a"]), str(data.get("o", "")), str(data["c"]), str(data["t"]))
        except (ValueError, TypeError, KeyError):
            return None


def _modal(blocks: list[dict], place: PlanPlace) -> dict:
    return {
        "type": "modal",
        "callback_id": "account_plan",
        "title": plain(MODAL_TITLE, 24),
        "close": plain("Close", 24),
        "private_metadata": place.encode(),
        "blocks": blocks[:MAX_HOME_BLOCKS],
    }


def plan_loading_view(place: PlanPlace, account_name: str = "") -> dict:
    """What the modal shows while the analysis runs (Slack's trigger id lasts 3 s: the modal
    opens at once, then :func:`plan_view` replaces this)."""
    what = f" of *{clip(escape(account_name), 150)}*" if account_name else ""
    return _modal([section(f":hourglass_flowing_sand: Loading the account plan{what}…")], place)


def plan_view(
    ctx: dict, place: PlanPlace, *, owner_user: str | None = None, note: str = ""
) -> dict:
    """An account's deep-dive as a modal (at most 100 blocks), its actions at the end: share it
    in the thread of the card it was opened from (when there is one) and claim the card's
    opportunity. ``note`` (safe mrkdwn) is said above the actions, e.g. after sharing."""
    body = deep_dive_blocks(ctx, owner_user=owner_user)
    tail: list[dict] = [{"type": "divider"}]
    if note:
        tail.append(context(note))
    elements = []
    name = str(ctx["p"]["name"])
    if place.channel:
        share = button(
            "Share in thread" if place.thread_ts else "Share in channel",
            "share_plan",
            place.account_id,
            style="primary",
        )
        share["accessibility_label"] = _label(f"Share the account plan of {name} with the channel")
        elements.append(share)
    opp = next((o for o in ctx["opps"] if o.get("opportunity_id") == place.opportunity_id), None)
    if opp is not None and not _present(opp.get("assignee")):
        claim = button("Claim", action_id("claim", opp["opportunity_id"]), opp["opportunity_id"])
        claim["accessibility_label"] = _label(f"Claim {name}: {deal_words(opp)} (assign it to me)")
        elements.append(claim)
    if elements:
        tail.append(
            {
                "type": "actions",
                "block_id": card_block_id(place.opportunity_id or place.account_id, None),
                "elements": elements,
            }
        )
    # Within 100 blocks and a text budget, with room for the note that it goes on.
    room, size, kept = MAX_HOME_BLOCKS - len(tail) - 1, text_size(tail) + 100, 0
    for block in body:
        size += text_size([block])
        if kept == room or size > MAX_VIEW_CHARS:
            break
        kept += 1
    if kept < len(body):
        body = [
            *body[:kept],
            context("The plan goes on: `expansion account` on the command line has all of it."),
        ]
    return _modal(body + tail, place)


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


#: Cards in "Yours this week", and lines in the team view.
HOME_MINE = 8
HOME_TEAM_LINES = 10


def home_view(
    *,
    summary: dict,
    sources: list[Source],
    as_of: str,
    mine: list[dict],
    closed_mine: int,
    team: list[dict] | None = None,
    team_total: int | None = None,
    team_unclaimed: int | None = None,
    team_arr: float | None = None,
    calibration: str = "",
) -> dict:
    """The App Home tab: "Yours this week" first (``mine``: the viewer's Tier 1-2 plays, assigned
    to them or on accounts they own, as cards with their buttons), then the team's (``team``:
    the other Tier 1-2 plays, one line each, who has them; ``team_*`` count all of them when
    ``team`` is only the first), then the portfolio in short, and where close probability comes
    from (``calibration``: :meth:`expansion.calibration.Calibration.note`)."""
    team = team or []
    blocks = [header(f"Yours this week ({len(mine)})")]
    if not mine:
        blocks += [
            section(
                "Nothing is yours this week: no Tier 1 or 2 play is assigned to you or on an "
                "account you own. *Claim* one from the team's plays."
            ),
            {
                "type": "actions",
                "block_id": "home_empty",
                "elements": [
                    button("Show this week's plays", "home_find", "all accounts", style="primary")
                ],
            },
        ]
    shown = 0
    seen: set[str] = set()
    for opp in mine[:HOME_MINE]:
        more = card(opp, seen=seen)
        # A view has a text budget like a message: stop before a card would pass it.
        if shown and text_size([*blocks, *more]) > MAX_MESSAGE_CHARS - 3_000:
            break
        blocks += more
        shown += 1
    if len(mine) > shown:
        blocks.append(context(f"…and {len(mine) - shown} more of yours: *Show all* lists them."))
    if closed_mine:
        blocks.append(context(f"{closed_mine} of your opportunities are snoozed or closed."))
    blocks.append(header("The team this week"))
    if team:
        count_all = len(team) if team_total is None else team_total
        unclaimed = (
            sum(1 for o in team if not _present(o.get("assignee")))
            if team_unclaimed is None
            else team_unclaimed
        )
        total = (
            sum(float(o.get("expansion_arr") or 0) for o in team) if team_arr is None else team_arr
        )
        # The team's *other* plays: yours are counted above, not again here.
        others = "more " if mine else ""
        lines = [
            f"*{count_all} {others}{'Tier 1-2 play' if count_all == 1 else 'Tier 1-2 plays'}* · "
            f"*{signed_money(total)} ARR* · {unclaimed} unclaimed"
        ]
        for o in team[:HOME_TEAM_LINES]:
            who = (
                f"with {user(o['assignee'])}"
                if _present(o.get("assignee"))
                else f"unclaimed, owner {owner_text(o)}"
            )
            lines.append(
                f"• *{clip(escape(o['account_name']), 80)}*: {escape(deal_words(o))} · "
                f"{signed_money(o.get('expansion_arr'))} · Tier {o['tier']} · {who}"
            )
        if count_all > min(len(team), HOME_TEAM_LINES):
            lines.append(f"…and {count_all - min(len(team), HOME_TEAM_LINES)} more: *Show all*.")
        blocks.append(section(clip("\n".join(lines), 3000)))
    else:
        blocks.append(section("No open Tier 1 or 2 play in the portfolio right now."))
    find = button("Show all", "home_find:all", "all accounts")
    blocks.append(
        {
            "type": "actions",
            "block_id": "home_team",
            "elements": [
                find,
                button("Renewing this quarter", "home_find:renewing", "renewing this quarter"),
            ],
        }
    )
    text, meta = _summary_lines(summary, sources, as_of)
    blocks += [{"type": "divider"}, context(text.replace("\n", " · ")), context(meta)]
    if calibration:
        # Where "70% likely" comes from: the seed bands, or calibrated from decided outcomes.
        blocks.append(context(escape(calibration[:1].upper() + calibration[1:]) + "."))
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}


# --------------------------------------------------------------------------- new-Tier-1 alerts

#: Cards in one alert message: 10 x 4 blocks + the intro and the "…and N more" line <= 50.
ALERT_CARDS = 10
ALERT_MODES = (("on", "On: as soon as one appears"), ("daily", "Daily summary"), ("off", "Off"))


def _change_words(opp: dict) -> str:
    was = opp.get("was")
    return f"up from Tier {int(was)}" if _present(was) else "new"


def alert_message(opps: list[dict], *, scope: str | None = None, summary: bool = False) -> dict:
    """One alert message: the opportunities that became Tier 1 (``opps``: card records with
    ``was``, the tier each came from, ``None`` when new), as cards with their buttons, best
    first. A DM (``scope`` ``None``) says "on your accounts"; a channel's names its scope. At
    most :data:`ALERT_CARDS` cards and Slack's text budget; the rest are named in one line."""
    n = len(opps)
    what = plural(n, "new Tier 1 opportunity")
    if scope is None:
        where = "on your accounts" + (" today" if summary else "")
    else:
        where = f"in {escape(scope or 'all accounts')}"
    moved = sum(1 for o in opps if _present(o.get("was")))
    detail = f" ({moved} moved up from a lower tier)" if moved else ""
    head = [section(f":rotating_light: *{what}* {where}{detail}.")]
    body: list[dict] = []
    seen: set[str] = set()
    shown = 0
    for opp in opps[:ALERT_CARDS]:
        more = card(opp, seen=seen)
        more[1] = context(f"{more[1]['elements'][0]['text']} · {_change_words(opp)}")
        if shown and text_size([*head, *body, *more]) > MAX_MESSAGE_CHARS - 1_000:
            break
        body += more
        shown += 1
    rest = opps[shown:]
    if rest:
        names = ", ".join(
            f"{clip(escape(o['account_name']), 60)} ({escape(deal_words(o))})" for o in rest
        )
        body.append(context(clip(f"…and {len(rest)} more: {names}", 1900)))
    first = decision_text(opps[0]) if opps else ""
    text = f"New {first}" + (f" And {len(opps) - 1} more." if len(opps) > 1 else "")
    return {"text": clip(text, 3000), "blocks": (head + body)[:MAX_BLOCKS]}


def alerts_choice(mode: str) -> list[dict]:
    """App Home's alerts setting: on, daily summary or off, for the viewer."""
    options = [{"text": plain(label), "value": value} for value, label in ALERT_MODES]
    initial = next((o for o in options if o["value"] == mode), options[0])
    return [
        {"type": "divider"},
        section(
            "*Alerts* when a new Tier 1 appears on an account you own: a DM after each sync "
            "(*on*), one a day with all of them (*daily summary*), or none (*off*).",
            block_id="alerts_choice",
            accessory={
                "type": "static_select",
                "action_id": "alerts_mode",
                "placeholder": plain("Alerts"),
                "options": options,
                "initial_option": initial,
            },
        ),
    ]
