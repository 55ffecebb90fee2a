"""Buttons on a card: Deep dive, Assign owner, and the overflow menu."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from ... import cards, deep_dive
from ...blocks import action_pattern
from ...errors import ack_then
from ...runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    @ack_then(app.action(action_pattern("deep_dive")), runtime)
    def open_deep_dive(body: dict, action: dict, client: WebClient, respond, context) -> None:
        rt = runtime.for_request(context)
        deep_dive.answer_click(rt, client, body, respond, action["value"])

    @ack_then(app.action(action_pattern("assign_owner")), runtime)
    def assign_owner(body: dict, action: dict, client: WebClient, respond, context) -> None:
        rt = runtime.for_request(context)
        cards.change(
            rt,
            client,
            body,
            respond,
            block_id=action["block_id"],
            what="assign",
            assignee=action.get("selected_user"),
        )

    @ack_then(app.action(action_pattern("opportunity_outcome")), runtime)
    def opportunity_outcome(body: dict, action: dict, client: WebClient, respond, context) -> None:
        rt = runtime.for_request(context)
        cards.change(
            rt,
            client,
            body,
            respond,
            block_id=action["block_id"],
            what=action["selected_option"]["value"],
        )
