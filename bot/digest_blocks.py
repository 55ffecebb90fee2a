"""Block Kit of the Tier 1 digest: one parent message that says what to do, its cards in the
parent's thread.

The parent leads with the decision (how many Tier 1 plays, one headline figure, the three to
start with and who owns them, how many nobody has claimed) and one primary button, *Review all*
(the whole list of the scope, answered only to the person who clicks). "What changed" follows
only when the channel had a digest of this scope before. The cards themselves are built by the
shared card builder (:func:`bot.blocks.card`) and go in the thread, one message per account so
an account's cards are never split across messages.

Customer text reaches mrkdwn, and every notification ``text``, only through
:func:`bot.blocks.escape`.
"""

from __future__ import annotations

from expansion.playbook import plural

from .blocks import (
    MAX_BLOCKS,
    MAX_MESSAGE_CHARS,
    ListRef,
    _present,
    _summary_lines,
    button,
    cards,
    clip,
    compact_list,
    context,
    deal_words,
    decision_text,
    escape,
    header,
    money,
    owner_text,
    section,
    text_size,
    user,
)

#: Plays the parent names ("start with these 3").
START_WITH = 3
CHANGE_LINES = 5
_CHANGE_GROUPS = (
    ("new_tier1", ":new: New Tier 1"),
    ("moved_up", ":arrow_up: Moved up"),
    ("moved_down", ":arrow_down: Moved down"),
    ("assigned", ":bust_in_silhouette: Assigned"),
    ("won", ":trophy: Won"),
    ("lost", ":x: Lost"),
    ("snoozed", ":zzz: Snoozed"),
    ("dismissed", ":no_entry_sign: Not a fit"),
)
#: The words of a period key's span: a week's digest is "this week".
_SPANS = {"week": "this week", "month": "this month", "day": "today"}


def span_of(period: str) -> str:
    """``this week`` (``2026-W48``), ``this month`` (``2026-11``) or ``today`` (a date)."""
    key = period.split("+", 1)[0]
    return _SPANS["week" if "-W" in key else "month" if len(key) == 7 else "day"]


def owner_mention(opp: dict) -> str:
    """The account owner as a card names them (:func:`bot.blocks.owner_text`: an @mention when
    a Slack user has the CRM e-mail, resolved with the card records, else the e-mail)."""
    return owner_text(opp) if _present(opp.get("owner")) else "no owner"


def play_line(opp: dict) -> str:
    """``*Account*: deal (+$XK)``: one play, as the parent's list and notification name it."""
    return (
        f"*{clip(escape(opp['account_name']), 80)}*: {escape(deal_words(opp))} "
        f"(*+{money(opp.get('expansion_arr'))}*)"
    )


# --------------------------------------------------------------------------- what changed


def _change_line(group: str, c: dict) -> str:
    what = f"*{clip(escape(c['account_name']), 80)}*" + (
        f" · {escape(c['type_label'])}" if _present(c.get("type_label")) else ""
    )
    if group == "new_tier1":
        return what + (f" (was Tier {c['was']})" if _present(c.get("was")) else "")
    if group in ("moved_up", "moved_down"):
        return f"{what}: Tier {c['was']} → Tier {c['tier']}"
    if group == "assigned":
        return f"{what} → {user(c['assignee'])}" if _present(c.get("assignee")) else what
    return f"{what} (by {user(c['actor'])})"


def changes_text(changes) -> str | None:
    """The "what changed" section (``changes`` is :class:`expansion.digest.Changes`), or
    ``None`` for a channel's first digest of this scope: there is nothing to compare with."""
    if changes.first:
        return None
    since = f"{changes.since:%a} {changes.since.day} {changes.since:%b}"
    if changes.empty:
        return f"*What changed since {since}*\nNothing: no tier moves, assignments or outcomes."
    lines = [f"*What changed since {since}*"]
    for group, label in _CHANGE_GROUPS:
        items = getattr(changes, group)
        if not items:
            continue
        shown = [_change_line(group, c) for c in items[:CHANGE_LINES]]
        more = f" …and {len(items) - CHANGE_LINES} more" if len(items) > CHANGE_LINES else ""
        lines.append(f"{label} ({len(items)}): " + "; ".join(shown) + more)
    return clip("\n".join(lines), 2900)


# --------------------------------------------------------------------------- parent


def parent(
    *,
    title: str,
    period: str,
    span: str,
    summary: dict,
    sources: list,
    as_of: str,
    changes,
    plays: list[dict],
    tier1_total: int,
    tier1_arr: float,
    unclaimed: int,
    shown: int,
    deep_dives: int,
    closest: list[dict],
    ref: ListRef,
) -> dict:
    """The digest's one top-level message.

    ``plays`` are the best Tier 1 cards (records), ``tier1_total``/``tier1_arr`` what all open
    Tier 1 plays in scope add up to, ``shown`` how many cards the thread holds; their owners
    are resolved with the records (:meth:`bot.runtime.Runtime.card_records`).
    """
    label = f"Expansion digest · {escape(title)} · {escape(period)}"
    # The data line without the data gaps: the parent is about what to do; the list has them.
    _, meta = _summary_lines({**summary, "data_gaps": []}, sources, as_of)
    review = button("Review all", "digest_review_all", ref.encode(), style="primary")
    review["accessibility_label"] = clip(f"Review every Tier 1 play in {title}", 75)
    if tier1_total:
        start = plays[:START_WITH]
        lines = [f"{n}. {play_line(o)} · {owner_mention(o)}" for n, o in enumerate(start, 1)]
        first = "Start with this one" if len(start) == 1 else f"Start with these {len(start)}"
        claimed = (
            f"*{unclaimed} of {tier1_total} unclaimed*: pick one in the thread."
            if unclaimed
            else "All of them are claimed."
        )
        thread = (
            f"The thread has the top {shown} cards"
            if shown < tier1_total
            else f"The thread has {'the card' if shown == 1 else f'all {shown} cards'}"
        )
        if deep_dives:
            thread += f" and deep-dives of the top {plural(deep_dives, 'account')}"
        blocks = [
            header(f"{plural(tier1_total, 'Tier 1 play')} {span}, +{money(tier1_arr)} ARR"),
            section(f"*{first}:*\n" + "\n".join(lines)),
            section(f"{claimed} {thread}."),
        ]
        top = start[0]
        more = f"; {tier1_total - 1} more" if tier1_total > 1 else ""
        text = (
            f"Tier 1 {span}: {escape(top['account_name'])}, {clip(escape(deal_words(top)), 120)} "
            f"(+{money(top.get('expansion_arr'))}){more}"
        )
    else:
        tiers = summary.get("tiers", {})
        tier_text = " · ".join(
            f"Tier {t}: {tiers[t]['count']} ({money(tiers[t]['expansion_arr'])})"
            for t in sorted(tiers)
            if tiers[t]["count"]
        )
        blocks = [
            header(f"No Tier 1 plays {span}"),
            section(
                "*Nothing new in Tier 1 this time.* Here is the pipeline: "
                + (tier_text or "no open opportunities in this scope.")
            ),
        ]
        if closest:
            blocks.append(section(f"*Closest to Tier 1* ({len(closest)})"))
            blocks += compact_list(closest)[1:]
        text = f"No Tier 1 plays {span} in {escape(title)}"
    what = changes_text(changes)
    if what:
        blocks.append(section(what))
    blocks.append({"type": "actions", "block_id": "digest_parent", "elements": [review]})
    blocks.append(context(label, meta))
    return {"text": clip(text, 3000), "blocks": blocks[:MAX_BLOCKS]}


# --------------------------------------------------------------------------- thread


def thread_messages(
    group: list[dict], *, start: int, ref: ListRef, total: int, span: str
) -> list[dict]:
    """One account's cards (``group``, best first; ``start`` is the first one's place among the
    ``total`` cards) as its thread message.

    An account whose cards together would pass Slack's block count or text size (not seen in
    practice: a card is a few blocks) gets more than one message, split between cards, never
    inside one.
    """
    last = start + len(group) - 1
    place = f"{start}-{last}" if last > start else f"{start}"
    text = clip(f"Tier 1 {span} ({place} of {total}): {decision_text(group[0], tier=False)}", 2990)
    parts: list[list[dict]] = [[]]
    # Each card ends with its divider; the cards of one account share what they have said.
    for blocks in cards(group, ref=ref):
        joined = [*parts[-1], *blocks]
        if len(joined) > MAX_BLOCKS or text_size(joined) > MAX_MESSAGE_CHARS:
            parts.append(blocks)
        else:
            parts[-1] = joined
    # A divider separates cards; the message's last card needs none.
    parts = [p[:-1] if p and p[-1]["type"] == "divider" else p for p in parts]
    return [
        {"text": text + (f" ({n}/{len(parts)})" if len(parts) > 1 else ""), "blocks": blocks}
        for n, blocks in enumerate(parts, 1)
    ]
