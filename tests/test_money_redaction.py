"""Every message the bot posts where a channel reads it, rendered for a redacted channel: not one
dollar figure from the data (ARR, expansion ARR, expected value, pipeline, prices) is left in
the payload, text fallbacks and context lines included; only bands.

The messages are built by the bot's own code from the sample book, the way each channel post
builds them (``View.building`` around the builder, ``View.guard`` on the payload), and each is
also built for a channel that sees figures, to show the figures were there to hide.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from bot import blocks, channels, deep_dive, digest_post, lists
from bot.runtime import Runtime
from bot.settings import Settings
from expansion import pipeline
from expansion.numbers import MONEY_BANDS, band_figures, figures_in, money, money_exact
from expansion.schedule import Schedule

REDACTED = channels.View("CRED", True, "redact on")
FIGURES = channels.View("CFIG", False, "the default")
BANDS = [label for _, label in MONEY_BANDS]


@pytest.fixture(scope="module")
def runtime(sample_engine):
    settings = Settings(
        bot_token="xoxb-test", signing_secret="s", fixed_as_of=pipeline.SAMPLE_AS_OF
    )
    return Runtime(engine=sample_engine, settings=settings)


def payload_text(message: dict) -> str:
    return json.dumps(message, ensure_ascii=False)


def data_figures(result) -> set[str]:
    """Every way a money figure of the data could be written: compact and exact, for ARR,
    expansion ARR, expected value, the scope's pipeline, and the prices quoted in sentences."""
    opps = result.opportunities
    values = [
        *opps["expansion_arr"].dropna(),
        *opps["expected_value"].dropna(),
        *result.profiles["arr"].dropna(),
        result.summary.get("expansion_arr"),
    ]
    written = {money(v) for v in values} | {money_exact(v) for v in values}
    for text in opps["pricing"].dropna():
        written |= set(figures_in(str(text)))  # seat and unit prices: "$480", "$0.0005"
    # A figure that is also the edge of a band ("$10K" in "under $10K") says nothing alone.
    return {w for w in written if w != "n/a" and not any(w in band for band in BANDS)}


def list_pages(runtime, scope: str) -> list[dict]:
    first = lists.answer(runtime, blocks.ListRef(scope=scope, public=True), ephemeral=False)
    pages = re.search(r"Page 1 of (\d+)", payload_text(first[0]))
    messages = list(first)
    for page in range(2, int(pages.group(1)) + 1 if pages else 1):
        ref = blocks.ListRef(scope=scope, page=page, public=True)
        messages += lists.answer(runtime, ref, ephemeral=False)
    return messages


def channel_messages(runtime, view: channels.View) -> list[tuple[str, dict]]:
    """(what, payload) of every kind of message the bot posts in a channel, as ``view`` sees."""
    out: list[tuple[str, dict]] = []
    weekly = Schedule(cadence="weekly", at_time="09:00", timezone="UTC", weekday=0)
    with view.building():
        # A shared list (Share in channel, `public`, paging a shared list): every page.
        for scope in ("all accounts", "enterprise", "smb", "Northwind Logistics"):
            out += [(f"list {scope}", m) for m in list_pages(runtime, scope)]
        # The digest: parent, card messages, deep-dives; and a scope with no Tier 1 (closest).
        for scope in ("", "smb"):
            sched = dataclasses.replace(weekly, scope=scope)
            report = digest_post.run(
                runtime,
                None,
                digest_post.Target("T0001", view.channel, sched),
                dry_run=True,
                view=view,
            )
            out += [(f"digest {scope or 'all'} {m.kind}", m.payload) for m in report.messages]
        # A card redrawn in the channel after a click (claimed, then won).
        page = lists.answer(
            runtime, blocks.ListRef(scope="all accounts", public=True), ephemeral=False
        )[0]
        opp = runtime.opportunity(
            runtime.find("all accounts").opportunities["opportunity_id"].iloc[0]
        )
        for change in ({"assignee": "UMAYA", "assigned_by": "UMAYA"}, {"outcome": "won"}):
            redrawn = blocks.replace_card(page["blocks"], {**opp, **change})
            assert redrawn is not None
            out.append((f"redrawn card {change}", {"text": page["text"], "blocks": redrawn}))
        # Deep-dives posted in a thread (Share in thread, the Deep dive button): every account.
        for account_id in runtime.find("all accounts").opportunities["account_id"].unique():
            out += [(f"deep dive {account_id}", m) for m in deep_dive.messages(runtime, account_id)]
    return [(what, view.guard(message)) for what, message in out]


def test_a_redacted_channel_gets_bands_and_never_a_figure(runtime):
    result = runtime.find("all accounts")
    figures = data_figures(result)
    assert {"$57,600", "$58K", "$198,000", "$480"} <= figures  # Northwind's deal, ARR, price
    messages = channel_messages(runtime, REDACTED)
    kinds = {what.split(" ")[0] for what, _ in messages}
    assert kinds == {"list", "digest", "redrawn", "deep"}
    assert len(messages) > 30
    seen_bands: set[str] = set()
    for what, message in messages:
        text = payload_text(message)
        assert figures_in(text) == [], (what, figures_in(text))
        leaked = sorted(f for f in figures if f in text)
        assert not leaked, (what, leaked)
        seen_bands |= {band for band in BANDS if band in text}
    # Bands say what the figures said: Northwind's +$57,600 is +$50–100K; the book's pipeline
    # and the prices are banded too.
    everything = "\n".join(payload_text(m) for _, m in messages)
    assert "+$50–100K ARR" in everything and "under $10K per seat" in everything
    assert len(seen_bands) >= 4
    # Notifications and context lines are banded too, not only the sections.
    parent = next(m for what, m in messages if what == "digest all parent")
    assert "$" in parent["text"] and figures_in(parent["text"]) == []
    contexts = [
        e["text"]
        for _, m in messages
        for b in m.get("blocks", [])
        if b.get("type") == "context"
        for e in b["elements"]
    ]
    assert contexts and not any(figures_in(c) for c in contexts)


def test_the_same_messages_show_figures_where_the_channel_may_see_them(runtime):
    figures = data_figures(runtime.find("all accounts"))
    everything = "\n".join(payload_text(m) for _, m in channel_messages(runtime, FIGURES))
    assert "+$58K ARR" in everything and "$480 per seat" in everything
    assert len({f for f in figures if f in everything}) > 20


def test_builders_band_from_exact_figures_and_the_guard_catches_the_rest(runtime):
    """Inside ``building`` every money formatter bands from the exact figure (so $99.6K is
    $50–100K, where banding the text "$100K" would say $100–250K); what only a sentence quotes
    ($480 a seat) is banded by the guard."""
    with REDACTED.building():
        raw = lists.answer(runtime, blocks.ListRef(scope="Northwind Logistics"), ephemeral=False)
    text = payload_text(raw[0])
    assert "$50–100K" in text and "$57,600" not in text and "$58K" not in text
    assert "$480" in text  # a price quoted in an evidence sentence: left to the guard
    guarded = payload_text(REDACTED.guard(raw[0]))
    assert "$480" not in guarded and figures_in(guarded) == []
    assert guarded == band_figures(text)
    # Structural strings (ids, button values, URLs) are never rewritten.
    message = {
        "blocks": [
            {
                "type": "actions",
                "block_id": "$5",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "a:$5",
                        "value": "$5",
                        "text": {"type": "plain_text", "text": "Pay $5"},
                    }
                ],
            }
        ]
    }
    assert REDACTED.guard(message)["blocks"][0]["elements"][0] == {
        "type": "button",
        "action_id": "a:$5",
        "value": "$5",
        "text": {"type": "plain_text", "text": "Pay under $10K"},
    }
    assert FIGURES.guard(raw[0]) is raw[0]


def test_the_rule_an_admins_setting_then_slack_connect_then_the_safe_side():
    assert channels.redacts(True, False) and not channels.redacts(False, True)
    assert channels.redacts(None, True) and channels.redacts(None, None)
    assert not channels.redacts(None, False)


def test_a_direct_message_sees_figures_and_no_channel_sees_bands(runtime):
    assert channels.view_of(runtime, None, "DU1") == channels.View("DU1", False, "a direct message")
    assert channels.view_of(runtime, None, "").redact
    # No client to ask Slack with: the safe side.
    assert channels.view_of(runtime, None, "CUNASKED").redact
