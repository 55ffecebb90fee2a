"""Buttons on a card: Claim, Open account plan, Create in HubSpot / Salesforce (and its Open
in ... link), Assign owner, and the overflow menu; the
account plan's Share in thread; and a "Deep dive" button on cards posted before the account
plan existed (it posts the deep-dive in the card's thread)."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from ... import cards, deep_dive, team, team_blocks
from ...blocks import action_pattern
from ...errors import ack_then, guarded
from ...runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    def assign_submitted(body: dict, client: WebClient, context) -> None:
        team.submit_assign(runtime.for_request(context), client, body)

    @ack_then(app.action(action_pattern("deep_dive")), runtime)
    def open_deep_dive(body: dict, action: dict, client: WebClient, respond, context) -> None:
        rt = runtime.for_request(context)
        deep_dive.answer_click(rt, client, body, respond, action["value"])

    @ack_then(app.action(action_pattern("open_plan")), runtime)
    def open_plan(body: dict, action: dict, client: WebClient, context) -> None:
        rt = runtime.for_request(context)
        account_id, opportunity_id = deep_dive.plan_request(action, body)
        deep_dive.open_plan(rt, client, body, account_id, opportunity_id)

    @ack_then(app.action("share_plan"), runtime)
    def share_plan(body: dict, client: WebClient, context) -> None:
        rt = runtime.for_request(context)
        deep_dive.share_plan(rt, client, body)

    @ack_then(app.action(action_pattern("claim")), runtime)
    def claim(body: dict, action: dict, client: WebClient, respond, context) -> None:
        rt = runtime.for_request(context)
        cards.change(rt, client, body, respond, block_id=action["block_id"], what="claim")

    @ack_then(app.action(action_pattern("assign_owner")), runtime)
    def assign_owner(body: dict, action: dict, client: WebClient, respond, context) -> None:
        rt = runtime.for_request(context)
        if action.get("type") == "button" and "selected_user" not in action:
            # Assign…: the modal with the suggested owners first (bot/team.py).
            team.open_assign(rt, client, body, action["block_id"])
            return
        # A users_select (cards posted before the Assign modal): assign at once.
        cards.change(
            rt,
            client,
            body,
            respond,
            block_id=action["block_id"],
            what="assign",
            assignee=action.get("selected_user"),
        )

    # The Assign modal's submission: checked in its ack (one person picked), assigned lazily.
    app.view(team_blocks.ASSIGN_CALLBACK)(
        ack=team.ack_assign, lazy=[guarded(assign_submitted, runtime)]
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

    @ack_then(app.action(action_pattern("crm_create")), runtime)
    def crm_create(body: dict, action: dict, client: WebClient, respond, context) -> None:
        rt = runtime.for_request(context)
        cards.create_in_crm(rt, client, body, respond, block_id=action["block_id"])

    @app.action(action_pattern("crm_open"))
    def crm_open(ack) -> None:
        """*Open in HubSpot* is a link: Slack opens it and tells the app, which has nothing to do."""
        ack()
