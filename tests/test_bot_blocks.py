"""Block Kit builders: every message stays inside Slack's limits and customer text stays inert,
whatever the data holds (checked with the emulator's independent validator)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_emulator import validate_blocks

from bot import blocks
from bot.blocks import ListRef
from expansion.playbook import account_context

EVIL = "<!channel> & <https://evil.example|click> <@U123>"


def _opp(n: int, name: str = "Acme", text: str = "x", priority: str = "high") -> dict:
    return {
        "opportunity_id": f"ACC-{n}-seat_expansion-{n}",
        "account_id": f"ACC-{n}",
        "account_name": name,
        "segment": "enterprise",
        "arr": 120000.0,
        "type_label": "Seat Expansion",
        "description": text,
        "evidence": [text, text, text, text],
        "suggested_action": text,
        "tier": 1,
        "score": 9.1,
        "propensity": 88,
        "close_probability": 0.7,
        "expansion_arr": 50000.0,
        "expected_value": 35000.0,
        "priority": priority,
        "owner": text,
        "assignee": None,
        "outcome": "open",
    }


def _mrkdwn(node) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "mrkdwn" else []
        return own + [t for v in node.values() for t in _mrkdwn(v)]
    if isinstance(node, list):
        return [t for v in node for t in _mrkdwn(v)]
    return []


SUMMARY = {
    "accounts_analyzed": 3,
    "opportunities": 3,
    "expansion_arr": 1.0,
    "expected_value": 1.0,
    "tiers": {"1": {"count": 3}},
    "priorities": {"high": 3},
    "data_gaps": [{"gap": EVIL, "impact": EVIL, "accounts": 2}],
}


def test_card_escapes_customer_text_everywhere():
    message = blocks.list_message(
        title=EVIL,
        summary=SUMMARY,
        sources=[blocks.Source(EVIL)],
        as_of="2026-11-16",
        opportunities=[_opp(1, EVIL, EVIL), _opp(2, EVIL, EVIL, "low")],
        ref=ListRef(scope=EVIL),
        ephemeral=True,
    )
    texts = _mrkdwn(message["blocks"])
    assert texts
    for text in texts:
        assert "<!channel>" not in text and "<https://evil" not in text and "<@U123>" not in text
    assert validate_blocks(message["blocks"]) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(min_value=0, max_value=60),
    size=st.integers(min_value=0, max_value=5000),
    page=st.integers(min_value=1, max_value=9),
)
def test_list_pages_stay_within_slack_limits(count, size, page):
    text = ("Ω&<x> " * (size // 6 + 1))[:size]
    opps = [_opp(i, text or "n", text, "high" if i % 2 else "medium") for i in range(count)]
    message = blocks.list_message(
        title=text,
        summary=SUMMARY,
        sources=[blocks.Source(text)],
        as_of="2026-11-16",
        opportunities=opps,
        ref=ListRef(scope=text[:100], page=page),
        ephemeral=True,
    )
    assert validate_blocks(message["blocks"]) == []


def test_every_sample_deep_dive_and_home_view_is_valid(sample_result):
    for account_id in sample_result.profiles["account_id"]:
        for message in blocks.deep_dive_messages(account_context(sample_result, account_id)):
            assert validate_blocks(message["blocks"]) == [], account_id
    records = sample_result.opportunity_records()
    view = blocks.home_view(
        summary=sample_result.summary,
        sources=[blocks.Source("sample", datetime(2026, 11, 16, 4, 0, tzinfo=UTC))],
        as_of="2026-11-16",
        mine=records,
        closed_mine=2,
    )
    assert validate_blocks(view["blocks"], max_blocks=100) == []


def test_sources_show_their_name_and_sync_time_in_the_readers_time_zone():
    at = datetime(2026, 11, 16, 4, 5, tzinfo=UTC)
    message = blocks.list_message(
        title="t",
        summary=SUMMARY,
        sources=[blocks.Source(EVIL, at), blocks.Source("crm"), *map(blocks.Source, "abc")],
        as_of="2026-11-16",
        opportunities=[],
        ref=ListRef(scope="t"),
        ephemeral=True,
    )
    meta = next(t for t in _mrkdwn(message["blocks"]) if "Data:" in t)
    epoch = int(at.timestamp())
    assert (
        f"Data: {blocks.escape(EVIL)} (synced <!date^{epoch}^{{date_short_pretty}} {{time}}|"
        "2026-11-16 04:05 UTC>), crm, a and 2 more" in meta
    )
    # A stored time without a zone is UTC.
    assert blocks.slack_date(at.replace(tzinfo=None)) == blocks.slack_date(at)


def test_pack_splits_long_content_over_messages():
    many = [blocks.section("x" * 2900) for _ in range(12)]
    messages = blocks.pack(many, text="Deep dive")
    assert len(messages) > 1
    assert [m["text"] for m in messages][-1].endswith(f"({len(messages)}/{len(messages)})")
    assert sum(len(m["blocks"]) for m in messages) == 12
    for message in messages:
        assert validate_blocks(message["blocks"]) == []


def test_replace_card_redraws_only_that_card():
    opps = [_opp(1), _opp(2)]
    message = blocks.list_message(
        title="t",
        summary=SUMMARY,
        sources=[],
        as_of="2026-11-16",
        opportunities=opps,
        ref=ListRef(scope="enterprise"),
        ephemeral=False,
    )
    changed = {**opps[1], "assignee": "U7", "assigned_by": "U8"}
    redrawn = blocks.replace_card(message["blocks"], changed)
    assert redrawn is not None and len(redrawn) == len(message["blocks"])
    differing = [
        i for i, (a, b) in enumerate(zip(message["blocks"], redrawn, strict=True)) if a != b
    ]
    assert 1 <= len(differing) <= 2
    assert "assigned to <@U7> by <@U8>" in str(redrawn)
    assert blocks.replace_card(message["blocks"], _opp(3)) is None


def test_list_ref_round_trips_and_rejects_garbage():
    ref = ListRef(scope="enterprise 60", page=2, public=True)
    assert ListRef.decode(ref.encode()) == ref
    assert ListRef.decode("not json") is None
    opportunity_id, parsed = blocks.parse_card_block_id(blocks.card_block_id("A-1", ref))
    assert (opportunity_id, parsed) == ("A-1", ref)
    long = ListRef(scope="x" * 400)
    assert len(blocks.card_block_id("A-1", long)) <= 255
    assert blocks.parse_card_block_id(blocks.card_block_id("A-1", long)) == ("A-1", None)


def test_a_long_list_pages_through_the_first_cards_and_counts_them_all():
    opps = [_opp(i, f"Account {i}", "x") for i in range(blocks.MAX_LIST_CARDS)]
    opps += [_opp(1000 + i, f"Other {i}", "y", "medium") for i in range(blocks.COMPACT_LIST_LINES)]
    page, pages = 1, None
    while pages is None or page <= pages:
        message = blocks.list_message(
            title="enterprise",
            summary=SUMMARY,
            sources=[],
            as_of="2026-11-16",
            opportunities=opps,
            ref=ListRef(scope="enterprise", page=page),
            ephemeral=True,
            high_total=4365,
            rest_total=12000,
        )
        assert validate_blocks(message["blocks"]) == []
        texts = " ".join(_mrkdwn(message["blocks"]))
        assert f"*Start with these* (4365; the first {blocks.MAX_LIST_CARDS} here" in texts
        if pages is None:
            pages = len(blocks._layout([blocks.card(o) for o in opps[:100]], [], []))
        page += 1
    assert "*Also in this scope* (12000)" in texts
    assert f"…and {12000 - blocks.COMPACT_LIST_LINES} more" in texts


def test_a_middle_page_links_both_ways():
    """Three pages of High-priority cards: the middle one has Previous and Next (the bot tests
    page through the sample, whose lists have at most two pages)."""
    opps = [_opp(i, f"Account {i}", "x") for i in range(2 * blocks.CARDS_PER_PAGE + 1)]

    def page(n: int) -> tuple[list[str], str]:
        message = blocks.list_message(
            title="all accounts",
            summary=SUMMARY,
            sources=[],
            as_of="2026-11-16",
            opportunities=opps,
            ref=ListRef(scope="", page=n),
            ephemeral=True,
        )
        assert validate_blocks(message["blocks"]) == []
        footer = next(b for b in message["blocks"] if b.get("block_id") == "list_footer")
        labels = [e["text"]["text"] for e in footer["elements"]]
        return [x for x in labels if "page" in x], " ".join(_mrkdwn(message["blocks"]))

    assert page(1)[0] == ["Next page ▶"]
    labels, text = page(2)
    assert labels == ["◀ Previous page", "Next page ▶"] and "Page 2 of 3" in text
    assert page(3)[0] == ["◀ Previous page"]


def test_the_account_plan_modal_stays_within_100_blocks(sample_result):
    ctx = account_context(sample_result, "ACC-1001")
    ctx = {**ctx, "opps": ctx["opps"] * 30}  # 150 opportunities: far more than fit
    place = blocks.PlanPlace("ACC-1001", ctx["opps"][0]["opportunity_id"], "C1", "1700000000.1")
    view = blocks.plan_view(ctx, place)
    assert view["type"] == "modal" and len(view["blocks"]) <= 100
    problems = validate_blocks(view["blocks"], max_blocks=100)
    assert [p for p in problems if not p.startswith("msg_blocks_too_long")] == []
    assert blocks.text_size(view["blocks"]) <= blocks.MAX_VIEW_CHARS
    assert view["blocks"][-1]["type"] == "actions", "the actions stay at the end"
    assert "The plan goes on" in str(view["blocks"][-3])
    assert blocks.PlanPlace.decode(view["private_metadata"]) == place


def test_numbers_read_one_way():
    from expansion import numbers

    assert [numbers.money(v) for v in (900, 8000, 8400, 64_000, 999_600, 1_200_000, None)] == [
        "$900",
        "$8K",
        "$8.4K",
        "$64K",
        "$1M",
        "$1.2M",
        "n/a",
    ]
    assert numbers.count(920_000) + " of " + numbers.count(1_000_000) == "920,000 of 1,000,000"
    assert numbers.pct(0.54) == "54%" and numbers.signed_money(-5000) == "-$5K"
    assert blocks.slack_text("Budget $57,600 on 2026-11-10 & <b>") == (
        "Budget $58K on <!date^1794312000^{date_short}|Nov 10, 2026> &amp; &lt;b&gt;"
    )


def test_a_slow_account_plan_opens_loading_then_fills_in(sample_engine, slack, monkeypatch):
    """When the analysis is slower than the wait, the modal opens at once with a loading view
    (the trigger id lasts 3 s) and views.update replaces it with the plan."""
    from slack_sdk import WebClient

    from bot import deep_dive
    from bot.runtime import Runtime
    from bot.settings import Settings
    from expansion.pipeline import SAMPLE_AS_OF

    monkeypatch.setattr(deep_dive, "PLAN_WAIT_SECONDS", 0.0)
    runtime = Runtime(
        engine=sample_engine,
        settings=Settings(bot_token="xoxb-test", signing_secret="s", fixed_as_of=SAMPLE_AS_OF),
    )
    client = WebClient(token=slack.token, base_url=slack.api_url)
    opens, updates = len(slack.calls_to("views.open")), len(slack.calls_to("views.update"))
    body = {
        "trigger_id": slack.trigger_id(),
        "container": {"type": "message", "channel_id": "C1", "message_ts": "1700000000.000100"},
    }
    deep_dive.open_plan(runtime, client, body, "ACC-1002")
    [opened] = slack.calls_to("views.open")[opens:]
    [updated] = slack.calls_to("views.update")[updates:]
    assert opened.ok and "Loading the account plan" in str(opened.params["view"]["blocks"])
    assert updated.ok and updated.params["view_id"] == opened.response["view"]["id"]
    assert "Deep dive: Northwind Logistics" in str(slack.modals[updated.params["view_id"]])


def test_the_crm_button_follows_the_record():
    def crm_element(**fields):
        opp = {**_opp(1, name=EVIL), **fields}
        card = blocks.card(opp)
        assert len(card) <= blocks.CARD_BLOCKS and not validate_blocks(card)
        found = [e for e in card[2]["elements"] if e.get("action_id", "").startswith("crm_")]
        return (found[0] if found else None), card

    assert crm_element()[0] is None  # write-back off: no button
    create, _ = crm_element(crm="HubSpot", crm_status=None)
    assert (
        create["text"]["text"] == "Create in HubSpot"
        and create["value"] == "ACC-1-seat_expansion-1"
    )
    assert create["accessibility_label"].startswith("Create <!channel>")
    retry, _ = crm_element(crm="HubSpot", crm_status="failed")
    assert retry["text"]["text"] == "Retry in HubSpot"
    assert retry["action_id"] == create["action_id"]
    url = "https://app.hubspot.com/contacts/4242/record/0-3/77"
    opened, _ = crm_element(crm="HubSpot", crm_status="written", crm_url=url)
    assert opened["url"] == url and opened["text"]["text"] == "Open in HubSpot"
    assert "value" not in opened
    # Written but no link (no portal_id), or a link that is not https: said on the context line.
    for link in (None, "javascript:alert(1)"):
        none, card = crm_element(crm="HubSpot", crm_status="written", crm_url=link)
        assert none is None and card[1]["elements"][0]["text"].endswith("· in HubSpot")
    # An outcome read back from the CRM says where, not the actor's id.
    _, card = crm_element(
        crm="Salesforce", crm_status="written", outcome="won", outcome_by="crm:sf"
    )
    assert card[1]["elements"][0]["text"].endswith("*Won* in Salesforce")
