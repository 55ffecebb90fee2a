"""Buttons on a card: Claim, Open account plan, Create in HubSpot / Salesforce (and its Open
in ... link), Assign owner, and the overflow menu; the
account plan's Share in thread; and a "Deep dive" button on cards posted before the account
plan existed (it posts the deep-dive in the card's thread)."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from ... import cards, deep_dive, team, team_blocks
from ...blocks import action_pattern
from ...errors import guarded, lazy_listener
from ...runtime import Runtime


def open_deep_dive(body: dict, action: dict, client: WebClient, respond, context) -> None:
    rt: Runtime = context["runtime"]
    deep_dive.answer_click(rt, client, body, respond, action["value"])


def open_plan(body: dict, action: dict, client: WebClient, context) -> None:
    rt: Runtime = context["runtime"]
    account_id, opportunity_id = deep_dive.plan_request(action, body)
    deep_dive.open_plan(rt, client, body, account_id, opportunity_id)


def share_plan(body: dict, client: WebClient, context) -> None:
    rt: Runtime = context["runtime"]
    deep_dive.share_plan(rt, client, body)


def claim(body: dict, action: dict, client: WebClient, respond, context) -> None:
    rt: Runtime = context["runtime"]
    cards.change(rt, client, body, respond, block_id=action["block_id"], what="claim")


def assign_owner(body: dict, action: dict, client: WebClient, respond, context) -> None:
    rt: Runtime = context["runtime"]
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


def assign_submitted(body: dict, client: WebClient, context) -> None:
    team.submit_assign(context["runtime"], client, body)


def opportunity_outcome(body: dict, action: dict, client: WebClient, respond, context) -> None:
    rt: Runtime = context["runtime"]
    cards.change(
        rt,
        client,
        body,
        respond,
        block_id=action["block_id"],
        what=action["selected_option"]["value"],
    )


def crm_create(body: dict, action: dict, client: WebClient, respond, context) -> None:
    rt: Runtime = context["runtime"]
    cards.create_in_crm(rt, client, body, respond, block_id=action["block_id"])


def crm_open(ack) -> None:
    """*Open in HubSpot* is a link: Slack opens it and tells the app, which has nothing to do."""
    ack()


def register(app: App, runtime: Runtime) -> None:
    lazy_listener(app.action(action_pattern("deep_dive")), open_deep_dive, runtime)
    lazy_listener(app.action(action_pattern("open_plan")), open_plan, runtime)
    lazy_listener(app.action("share_plan"), share_plan, runtime)
    lazy_listener(app.action(action_pattern("claim")), claim, runtime)
    lazy_listener(app.action(action_pattern("assign_owner")), assign_owner, runtime)
    # The Assign modal's submission: checked in its ack (one person picked), assigned lazily.
    app.view(team_blocks.ASSIGN_CALLBACK)(
        ack=team.ack_assign, lazy=[guarded(assign_submitted, runtime)]
    )
    lazy_listener(app.action(action_pattern("opportunity_outcome")), opportunity_outcome, runtime)
    lazy_listener(app.action(action_pattern("crm_create")), crm_create, runtime)
    app.action(action_pattern("crm_open"))(crm_open)
