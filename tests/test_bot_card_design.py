"""The card design of issue 23 over the real server and the Slack emulator: a card is at most 4
blocks, a page of 8 cards at most 40 with dividers, owners are @mentioned, every date is a Slack
``<!date>``, no fact is said twice on a page, every outcome asks for confirmation, every button
has an accessibility label naming its account (unique within the message), and the
notification text states the top decision."""

from __future__ import annotations

import itertools
import re

from bot_harness import all_text

from bot import blocks as bk

_keys = itertools.count()
ISO_DAY = re.compile(r"\d{4}-\d\d-\d\d")
SLACK_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|[^>]*>")


def ask(bot, slack, text: str, *, user: str = "U1") -> dict:
    key = f"design{next(_keys)}"
    assert bot.command(text, user=user, response_key=key).status == 200
    [response] = slack.wait_for_responses(key, 1, timeout=20)
    assert response.status == 200, response
    return response.body


def cards_of(blocks: list[dict]) -> list[list[dict]]:
    """Every card of a message: the blocks from its section to its divider."""
    out = []
    for index, block in enumerate(blocks):
        if block.get("type") == "actions" and block.get("block_id", "").startswith("{"):
            end = index + 1
            if end < len(blocks) and blocks[end].get("type") == "divider":
                end += 1
            out.append(blocks[index - 2 : end])
    return out


def facts(card: list[dict]) -> list[str]:
    """The sentences (clauses) a card's facts line says, normalised."""
    text = card[0]["text"]["text"]
    out = []
    for line in text.split("\n")[1:]:
        for fact in line.split(bk.FACT_SEP):
            out += [bk._norm(c) for c, _ in bk._clauses(fact) if bk._norm(c)]
    return out


def check_message(message: dict) -> list[list[dict]]:
    """The rules every message with cards keeps; returns its cards."""
    blocks = message["blocks"]
    cards = cards_of(blocks)
    labels = []
    said: dict[str, int] = {}
    for n, card in enumerate(cards):
        assert len(card) <= 4 and card[-1]["type"] == "divider", card
        name = all_text([card[0]]).split("*")[1]
        actions = card[2]
        for element in actions["elements"]:
            if element["type"] == "button":
                label = element["accessibility_label"]
                assert bk.escape(label).startswith(
                    ("Claim", "Open the account plan", "Assign", "Create", "Retry", "Open")
                )
                if element["action_id"].startswith("crm_open"):  # a link, not an action
                    assert element["url"].startswith("https://") and "value" not in element
                assert name[:30] in bk.escape(label), (name, label)
                labels.append(label)
            if element["type"] == "overflow":
                confirm = element["confirm"]
                assert confirm["title"]["text"] and confirm["confirm"]["text"], element
                assert name[:30] in confirm["text"]["text"]
        for fact in facts(card):
            assert fact not in said, f"card {n} repeats card {said[fact]}: {fact!r}"
            said[fact] = n
    assert len(labels) == len(set(labels)), "accessibility labels are unique in a message"
    # Every date the reader sees is Slack's date (each reader's own format and time zone).
    for text in all_text(blocks).split("\n"):
        assert not ISO_DAY.search(SLACK_DATE.sub("", text)), text
    return cards


def test_a_page_of_eight_cards_fits_forty_blocks_with_dividers(bot, slack):
    answer = ask(bot, slack, "all accounts")
    cards = check_message(answer)
    assert len(cards) == 8
    assert len(answer["blocks"]) <= 40
    assert sum(1 for b in answer["blocks"] if b["type"] == "divider") >= 8
    # The notification text states the top decision, in words and with its date.
    assert answer["text"] == (
        "Expansion opportunities, All accounts: Tier 1: Northwind Logistics, add 120 seats for "
        "Operations (+$58K). Act by Nov 23."
    )


def test_owners_are_mentioned_when_slack_knows_them(bot, slack):
    answer = ask(bot, slack, "enterprise")
    cards = check_message(answer)
    contexts = [all_text([card[1]]) for card in cards]
    helios = [c for c, card in zip(contexts, cards, strict=True) if "Helios" in all_text(card)]
    # maya.chen@example.com is UMAYA in the workspace; priya.natarajan@example.com is nobody.
    assert helios and all("owner <@UMAYA>" in c for c in helios)
    assert any("owner priya.natarajan@example.com" in c for c in contexts)
    assert all(re.search(r"\d+% likely", c) for c in contexts)
    assert all("act by <!date^" in c and "renews <!date^" in c for c in contexts)


def test_every_list_page_and_home_keeps_the_rules(bot, slack):
    for scope in ("enterprise", "mid-market", "renewing this quarter", "at 80% seat usage"):
        check_message(ask(bot, slack, scope))
    bot.event({"type": "app_home_opened", "user": "UMAYA", "tab": "home"})
    slack.wait_for(lambda: "UMAYA" in slack.home_views, timeout=20)
    check_message(slack.home_views["UMAYA"])


def test_no_setting_names_or_metric_keys_reach_a_message(bot, slack):
    for scope in ("all accounts", "Helios Health", "Cobalt Energy"):
        key = f"design{next(_keys)}"
        assert bot.command(scope, response_key=key).status == 200
        first = slack.wait_for_responses(key, 1, timeout=20)[0].body
        # An account's deep-dive may be several messages: "(1/2)" says how many.
        total = re.search(r"\((\d+)/(\d+)\)$", first["text"])
        answers = slack.wait_for_responses(key, int(total.group(2)) if total else 1, timeout=20)
        for answer in (r.body for r in answers):
            text = all_text(answer["blocks"]) + answer["text"]
            for leak in ("EXPANSION_", "api_calls", "storage_gb", "/work/", ".csv"):
                assert leak not in text, (scope, leak)
