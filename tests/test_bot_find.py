"""``/find-expansion-opportunities`` end to end: signed requests to the running server, answers
read back from the Slack emulator (which rejects anything over Slack's Block Kit limits)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re

import pytest
from bot_harness import all_text, click, find_action

from bot.blocks import CARDS_PER_PAGE

_keys = itertools.count()


def ask(bot, slack, text: str, **kw) -> list[dict]:
    """Run the command; the bodies posted to its response_url."""
    key = f"cmd{next(_keys)}"
    reply = bot.command(text, response_key=key, **kw)
    assert reply.status == 200, reply.body
    assert reply.seconds < 3.0, f"ack took {reply.seconds:.2f}s"
    responses = slack.wait_for_responses(key, 1, timeout=20)
    assert all(r.status == 200 for r in responses), responses
    return [r.body for r in responses]


def test_enterprise_answers_with_summary_cards_and_buttons(bot, slack):
    [answer] = ask(bot, slack, "enterprise")
    assert answer["response_type"] == "ephemeral"
    blocks = answer["blocks"]
    text = all_text(blocks)
    assert blocks[0]["type"] == "header"
    assert "Expansion opportunities: Enterprise" in text
    assert "14 accounts scanned" in text and "+$829K ARR" in text
    assert "Tier 1:" in text and "Start with these (7)" in text.replace("*", "")
    # One probability, no scores on a card: those are in the account plan.
    assert "propensity" not in text and "score" not in text and "EV" not in text
    assert "Data gaps:" in text and "sample" in text
    cards = [b for b in blocks if b.get("type") == "actions" and b["block_id"].startswith("{")]
    # The sample's seven enterprise High-priority cards, best first (Northwind's Tier 1 ask),
    # all on one page with the list of the rest (the page cap is checked on all accounts).
    assert len(cards) == 7, "one page: all seven High-priority cards"
    assert [json.loads(c["block_id"])["o"] for c in cards[:2]] == [
        "ACC-1002-seat_expansion-30",
        "ACC-1001-new_department-88",
    ]
    first = cards[0]["elements"]
    assert [e["action_id"].split(":")[0] for e in first] == [
        "claim",
        "open_plan",
        "assign_owner",
        "opportunity_outcome",
    ]
    assert [e.get("style") for e in first] == ["primary", None, None, None]
    assert [o["value"] for o in first[3]["options"]] == ["snoozed", "not_a_fit", "won", "lost"]
    footer = {e["action_id"] for e in find_action(blocks, "export_csv")[1]["elements"]}
    footer = {a.split(":")[0] for a in footer}
    assert footer == {"download_playbook", "export_csv", "share_list"}  # no other page
    assert "Page 1 of 1" in text and "Also in this scope" in text
    assert "*Northwind Logistics*: add 120 seats for Operations · *+$58K ARR* (+29%)" in text
    assert "80% likely"  # an ask with budget and timeline in text
    assert len(blocks) <= 40


DATA_LINE = re.compile(
    r"Data: sample \(synced <!date\^\d+\^\{date_short_pretty\} \{time\}\|"
    r"\d{4}-\d\d-\d\d \d\d:\d\d UTC>\)"
)


def test_the_data_line_names_sources_and_sync_times_not_server_paths(bot, slack):
    from expansion import pipeline

    folder = str(pipeline.SAMPLE_PORTFOLIO)
    [answer] = ask(bot, slack, "enterprise")
    assert bot.event({"type": "app_home_opened", "user": "UDATA", "tab": "home"}).status == 200
    slack.wait_for(
        lambda: any(c.params.get("user_id") == "UDATA" for c in slack.calls_to("views.publish")),
        timeout=20,
    )
    home = next(
        c.params["view"] for c in slack.calls_to("views.publish") if c.params["user_id"] == "UDATA"
    )
    for blocks in (answer["blocks"], home["blocks"]):
        text = all_text(blocks)
        assert folder not in text and "portfolio" not in text, text
        assert DATA_LINE.search(text), text


@pytest.mark.parametrize(
    ("scope", "expect"),
    [
        ("mid-market 60", "Mid-market, propensity 60+"),
        ("renewing this quarter", "renewing this quarter"),
        ("at 80% seat usage", "at 80%+ seat usage"),
        ("owner maya.chen@example.com", "owner maya.chen@example.com"),
        ("all accounts", "All accounts"),
        ("healthy smb", "SMB, healthy"),
    ],
)
def test_each_scope_form(bot, slack, scope, expect):
    [answer] = ask(bot, slack, scope)
    assert f"Expansion opportunities: {expect}" in all_text(answer["blocks"][:1])


def test_empty_text_asks_which_scope_and_a_pick_answers(bot, slack):
    [picker] = ask(bot, slack, "")
    assert "Which segment or scope should I use?" in all_text(picker["blocks"])
    labels = [e["text"]["text"] for e in find_action(picker["blocks"], "pick_scope")[1]["elements"]]
    assert labels == [
        "Enterprise",
        "Mid-market",
        "SMB",
        "All accounts",
        "Renewing this quarter",
        "At 80% seat usage",
    ]
    element, block = find_action(picker["blocks"], "pick_scope", index=5)
    reply = bot.block_action(click(element, block), ephemeral=True, response_key="pick")
    assert reply.status == 200
    [answer] = [r.body for r in slack.wait_for_responses("pick", 1, timeout=20)]
    assert answer["replace_original"] is True
    assert "at 80%+ seat usage" in all_text(answer["blocks"][:1])


def test_gibberish_and_ambiguous_names_get_the_picker_with_the_reason(bot, slack):
    [answer] = ask(bot, slack, "zzqx flurb")
    text = all_text(answer["blocks"])
    assert "neither a scope nor an account name" in text
    assert "Which segment or scope" in text
    [answer] = ask(bot, slack, "group")
    assert "matches" in all_text(answer["blocks"]) and "Type more of the name" in all_text(
        answer["blocks"]
    )


def test_an_account_name_answers_with_its_deep_dive(bot, slack):
    answers = ask(bot, slack, "Helios Health")
    text = all_text(answers[0]["blocks"])
    assert "Deep dive: Helios Health Systems" in text
    for part in ("Current state", "Usage profile", "Relationship health", "Growth signals"):
        assert part in text
    assert "Benchmark vs enterprise peers" in text
    every = "\n".join(all_text(a["blocks"]) for a in answers)
    for part in ("Evidence", "Why this score", "Recommended pitch", "Approach", "Objections"):
        assert part in every


def page_labels(blocks: list[dict]) -> list[str]:
    return [
        e["text"]["text"]
        for e in find_action(blocks, "export_csv")[1]["elements"]
        if e["action_id"].startswith("list_page")
    ]


def card_ids(blocks: list[dict]) -> list[str]:
    return [
        json.loads(b["block_id"])["o"]
        for b in blocks
        if b.get("type") == "actions" and b.get("block_id", "").startswith("{")
    ]


def test_next_page_redraws_the_answer(bot, slack):
    # All accounts: the sample's 13 High-priority cards, eight on the first page.
    [answer] = ask(bot, slack, "all accounts")
    assert "Page 1 of 2" in all_text(answer["blocks"])
    assert len(card_ids(answer["blocks"])) == CARDS_PER_PAGE
    assert page_labels(answer["blocks"]) == ["Next page ▶"]
    element, block = find_action(answer["blocks"], "list_page")
    bot.block_action(click(element, block), ephemeral=True, response_key="page")
    [page2] = [r.body for r in slack.wait_for_responses("page", 1, timeout=20)]
    assert page2["replace_original"] is True
    assert "Page 2 of 2" in all_text(page2["blocks"])
    assert page_labels(page2["blocks"]) == ["◀ Previous page"]  # the middle: test_bot_blocks
    first_ids, second_ids = card_ids(answer["blocks"]), card_ids(page2["blocks"])
    assert first_ids and second_ids and not set(first_ids) & set(second_ids)
    # And back: the first page again, the same cards.
    element, block = find_action(page2["blocks"], "list_page")
    bot.block_action(click(element, block), ephemeral=True, response_key="back")
    [back] = [r.body for r in slack.wait_for_responses("back", 1, timeout=20)]
    assert "Page 1 of 2" in all_text(back["blocks"])
    assert card_ids(back["blocks"]) == first_ids


def test_last_page_holds_the_compact_medium_low_list(bot, slack):
    [answer] = ask(bot, slack, "healthy smb")
    text = all_text(answer["blocks"])
    assert "Also in this scope" in text
    assert "Page 1 of 1" in text


def test_public_posts_in_the_channel(bot, slack):
    before = len(slack.calls_to("chat.postMessage"))
    reply = bot.command("enterprise public", channel="CPUB", response_key="pub")
    assert reply.status == 200 and reply.seconds < 3
    [call] = slack.wait_for_calls("chat.postMessage", before + 1, timeout=20)[before:]
    assert call.params["channel"] == "CPUB"
    assert "Share in channel" not in all_text(call.params["blocks"])
    assert not slack.responses_to("pub")


def test_share_in_channel_posts_the_list(bot, slack):
    [answer] = ask(bot, slack, "enterprise", channel="CSHARE")
    element, block = find_action(answer["blocks"], "share_list")
    before = len(slack.calls_to("chat.postMessage"))
    bot.block_action(click(element, block), channel="CSHARE", ephemeral=True, response_key="sh")
    [call] = slack.wait_for_calls("chat.postMessage", before + 1, timeout=20)[before:]
    assert call.params["channel"] == "CSHARE"
    assert "Expansion opportunities: Enterprise" in all_text(call.params["blocks"])
    [note] = [r.body for r in slack.wait_for_responses("sh", 1, timeout=10)]
    assert "Shared in this channel" in note["text"]


def test_public_in_a_channel_the_bot_cannot_post_to_explains_what_to_do(bot, slack):
    slack.fail_next("chat.postMessage", status=200, error="not_in_channel")
    [answer] = ask(bot, slack, "enterprise public", channel="CPRIV")
    assert "/invite" in answer["text"] and "not_in_channel" in answer["text"]


def test_download_playbook_and_export_csv_go_to_the_requester(bot, slack):
    [answer] = ask(bot, slack, "enterprise")
    before = len(slack.uploads)
    for action_id, key in (("download_playbook", "dl"), ("export_csv", "csv")):
        element, block = find_action(answer["blocks"], action_id)
        bot.block_action(click(element, block), ephemeral=True, response_key=key)
        slack.wait_for_responses(key, 1, timeout=20)
    slack.wait_for(lambda: len(slack.uploads) >= before + 2)
    playbook, table = slack.uploads[before : before + 2]
    assert playbook.filename == "expansion-playbook.md" and playbook.channel_id == "DU1"
    assert "# Expansion Playbook" in playbook.text or "Expansion" in playbook.text
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert table.filename == "expansion-opportunities.csv"
    assert rows and {"Account", "ARR", "Opportunity type", "Signal", "Suggested action"} <= set(
        rows[0]
    )
    assert {r["Account ID"] for r in rows} <= {f"ACC-{1000 + i}" for i in range(1, 45)}


def test_no_data_yet_is_explained(tmp_path, slack):
    from bot_harness import BotServer

    server = BotServer(slack, f"sqlite:///{tmp_path / 'empty.db'}", tmp_path).start()
    try:
        reply = server.command("enterprise", response_key="empty")
        assert reply.status == 200
        [answer] = [r.body for r in slack.wait_for_responses("empty", 1, timeout=20)]
        assert "expansion sync" in answer["text"]
        assert "Something went wrong" not in answer["text"]
    finally:
        server.stop()
