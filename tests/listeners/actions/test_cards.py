"""Buttons on a card: the listeners called directly."""

from __future__ import annotations

import json

import pandas as pd
from bot_harness import all_text, click, find_action

from bot import lists
from bot.blocks import ListRef
from bot.listeners.actions.cards import claim
from expansion import pipeline, workflow


def clicked(slack, respond, user: str) -> dict:
    """A ``block_actions`` body for a click by ``user`` on an ephemeral answer in C1."""
    return {
        "type": "block_actions",
        "team": {"id": slack.team_id},
        "user": {"id": user, "team_id": slack.team_id},
        "container": {
            "type": "message",
            "channel_id": "C1",
            "message_ts": "1700000000.000001",
            "is_ephemeral": True,
        },
        "channel": {"id": "C1"},
        "response_url": respond.response_url,
        "trigger_id": slack.trigger_id(),
    }


def test_claim_is_refused_to_others_and_assigns_the_owner(slack, client, context, runtime):
    from slack_bolt.context.respond import Respond

    # Helios Health Systems belongs to maya.chen@example.com (UMAYA): she may claim its plays.
    [answer] = lists.answer(runtime, ListRef(scope="owner maya.chen@example.com"), ephemeral=True)
    element, block = find_action(answer["blocks"], "claim")
    action = click(element, block)
    opportunity_id = json.loads(block["block_id"])["o"]

    no = Respond(response_url=slack.response_url("unit-claim-no"))
    claim(body=clicked(slack, no, "U1"), action=action, client=client, respond=no, context=context)
    [refusal] = slack.responses_to("unit-claim-no")
    assert refusal.body["text"].startswith("You can't claim *Helios Health Systems")
    assert "Nothing was changed" in refusal.body["text"]
    states = workflow.states(runtime.engine, [opportunity_id])
    assert states.empty or pd.isna(states.loc[opportunity_id, "assignee"])

    yes = Respond(response_url=slack.response_url("unit-claim-yes"))
    claim(
        body=clicked(slack, yes, "UMAYA"),
        action=action,
        client=client,
        respond=yes,
        context=context,
    )
    [redrawn] = slack.responses_to("unit-claim-yes")
    assert redrawn.body["replace_original"] is True
    assert "claimed by <@UMAYA>" in all_text(redrawn.body["blocks"])
    assert workflow.states(runtime.engine, [opportunity_id]).loc[opportunity_id, "assignee"] == (
        "UMAYA"
    )
    pipeline.assign(
        runtime.engine,
        opportunity_id,
        assignee=None,
        actor="UADMIN",
        as_of=pipeline.SAMPLE_AS_OF,
    )
