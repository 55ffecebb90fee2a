"""Buttons on a list: the listeners called directly."""

from __future__ import annotations

from bot_harness import all_text

from bot.listeners.actions.lists import pick_scope


def test_a_scope_picked_replaces_the_picker_with_its_list(slack, client, respond, context):
    action = {"type": "button", "action_id": "pick_scope:5", "value": "at 80% seat usage"}
    pick_scope(action=action, client=client, respond=respond, context=context)
    [answer] = [r.body for r in slack.responses_to(respond.response_url.rsplit("/", 1)[1])]
    assert answer["replace_original"] is True
    assert "at 80%+ seat usage" in all_text(answer["blocks"][:1])
