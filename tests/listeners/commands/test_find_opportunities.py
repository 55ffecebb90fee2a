"""``/find-expansion-opportunities``: the listener called directly."""

from __future__ import annotations

import json

from bot_harness import all_text, find_action

from bot.listeners.commands.find_opportunities import find_opportunities


def command(slack, respond, text: str) -> dict:
    return {
        "command": "/find-expansion-opportunities",
        "text": text,
        "user_id": "U1",
        "channel_id": "C1",
        "team_id": slack.team_id,
        "response_url": respond.response_url,
    }


def test_a_scope_answers_with_its_high_priority_cards_best_first(
    slack, client, respond, context, runtime
):
    body = command(slack, respond, "enterprise")
    find_opportunities(command=body, body=body, client=client, respond=respond, context=context)
    [answer] = [r.body for r in slack.responses_to(respond.response_url.rsplit("/", 1)[1])]
    assert answer["response_type"] == "ephemeral"
    assert "Expansion opportunities: Enterprise" in all_text(answer["blocks"][:1])
    cards = [
        json.loads(b["block_id"])["o"]
        for b in answer["blocks"]
        if b.get("type") == "actions" and b["block_id"].startswith("{")
    ]
    # The engine's own answer for the scope: its High-priority opportunities, in its order.
    opps = runtime.find("enterprise").opportunities
    high = opps.loc[opps["priority"] == "high", "opportunity_id"].tolist()
    assert cards == high and len(cards) == 7


def test_no_scope_asks_which_one(slack, client, respond, context):
    body = command(slack, respond, "")
    find_opportunities(command=body, body=body, client=client, respond=respond, context=context)
    [answer] = [r.body for r in slack.responses_to(respond.response_url.rsplit("/", 1)[1])]
    assert "Which segment or scope should I use?" in all_text(answer["blocks"])
    assert find_action(answer["blocks"], "pick_scope")
