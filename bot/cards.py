"""Acting on a card: claim it, assign an owner, snooze, not a fit, won, lost, reopen, unassign,
and create it in the CRM.

Every change is checked (:mod:`bot.permissions`), stored with an audit event through
:mod:`expansion.pipeline`, and then shown where it was made: the card is redrawn in place.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from slack_sdk import WebClient

from expansion import pipeline
from expansion.workflow import OUTCOMES

from . import blocks, channels, crm, deep_dive, home, lists
from .blocks import ListRef
from .permissions import may_assign, may_close
from .replies import actor, dm_channel, from_home, from_modal, from_shared_message, send, tell
from .runtime import Runtime

#: What a users_select may send: one Slack user id (U..., or W... on Enterprise Grid).
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{1,31}")


def change(
    runtime: Runtime,
    client: WebClient,
    body: dict,
    respond: Callable | None,
    *,
    block_id: str,
    what: str,
    assignee: str | None = None,
) -> None:
    """Apply ``what`` (``claim``: assign to the one who clicked; ``assign``, ``unassign``, or
    an outcome) to the card's opportunity."""
    claim = what == "claim"
    if claim:
        what, assignee = "assign", actor(body)
    if what == "assign" and assignee is not None and not SLACK_USER_ID.fullmatch(str(assignee)):
        tell(
            body,
            client,
            respond,
            "*Assign owner* takes one Slack user: pick a person in the menu. Nothing was changed.",
        )
        return
    opportunity_id, ref = blocks.parse_card_block_id(block_id)
    opp = _current(runtime, client, body, respond, opportunity_id)
    if opp is None:
        return
    user = actor(body)
    owner_user, current = _owner_and_assignee(runtime, client, opp)
    admins = runtime.settings.admins
    if what in ("assign", "unassign"):
        allowed = may_assign(user, admins=admins, owner_user=owner_user)
        verb = "assign"
    else:
        allowed = may_close(user, admins=admins, owner_user=owner_user, assignee=current)
        verb = "change the status of"
    if not allowed:
        what_text = (
            f"*{blocks.escape(opp['account_name'])}: {blocks.escape(blocks.deal_words(opp))}*"
        )
        who = f"the account owner ({blocks.owner_text(opp)})" if opp.get("owner") else ""
        if claim:
            text = (
                f"You can't claim {what_text} yourself: only {who + ' or ' if who else ''}"
                "an admin of this bot can assign it. Ask them to assign it to you. "
                "Nothing was changed."
            )
        else:
            text = (
                f"Only {who + ' or ' if who else ''}an admin of this bot can {verb} "
                f"{what_text}. Nothing was changed."
            )
        tell(body, client, respond, text)
        return
    settings = runtime.settings
    if what == "assign" and assignee == current:
        return
    if what in ("assign", "unassign"):
        changed = pipeline.assign(
            runtime.engine,
            opportunity_id,
            assignee=assignee if what == "assign" else None,
            actor=user,
            as_of=settings.as_of(),
            config=settings.scoring,
        )
    else:
        changed = pipeline.record_outcome(
            runtime.engine,
            opportunity_id,
            what,
            actor=user,
            as_of=settings.as_of(),
            config=settings.scoring,
        )
    fresh = runtime.opportunity(opportunity_id, client)
    said = ""
    if (
        what == "assign"
        and assignee
        and changed
        and fresh is not None
        and crm.create_on_assign(runtime)
        and not crm.written(runtime, opportunity_id)
    ):
        # [crm] create_on_assign: the new owner's deal is in the CRM as the card is redrawn.
        said = crm.write(runtime, client, fresh)
        fresh = runtime.opportunity(opportunity_id, client)
    redraw(runtime, client, body, respond, fresh, ref)
    if said:
        tell(body, client, respond, said)
    if what == "assign" and assignee and changed and not claim:
        notify_assignee(runtime, client, fresh, assigned_by=user)


def _current(
    runtime: Runtime, client: WebClient, body: dict, respond: Callable | None, opportunity_id: str
) -> dict | None:
    """The card's opportunity as the latest scoring has it, or ``None`` after telling the
    person it is gone (the data changed since the card was drawn)."""
    opp = runtime.opportunity(opportunity_id, client)
    if opp is None:
        tell(
            body,
            client,
            respond,
            "This opportunity is not in the latest scoring any more (the data changed). "
            "Run `/find-expansion-opportunities` again for fresh cards.",
        )
    return opp


def _owner_and_assignee(
    runtime: Runtime, client: WebClient, opp: dict
) -> tuple[str | None, str | None]:
    """Who the permission rules weigh: the account owner's Slack user and the assignee."""
    owner_user = runtime.directory.user_id(client, opp.get("owner"))
    assignee = opp.get("assignee") if isinstance(opp.get("assignee"), str) else None
    return owner_user, assignee


def create_in_crm(
    runtime: Runtime, client: WebClient, body: dict, respond: Callable | None, *, block_id: str
) -> None:
    """*Create in HubSpot* (or Salesforce): write the card's opportunity to the CRM once, then
    redraw the card with *Open in HubSpot*; a failure is said in one line (the card then offers
    *Retry*)."""
    opportunity_id, ref = blocks.parse_card_block_id(block_id)
    opp = _current(runtime, client, body, respond, opportunity_id)
    if opp is None:
        return
    user = actor(body)
    owner_user, current = _owner_and_assignee(runtime, client, opp)
    if not may_close(user, admins=runtime.settings.admins, owner_user=owner_user, assignee=current):
        who = f"the account owner ({blocks.owner_text(opp)}), " if opp.get("owner") else ""
        tell(
            body,
            client,
            respond,
            f"Only {who}the person it is assigned to or an admin of this bot can create "
            f"*{blocks.escape(opp['account_name'])}: {blocks.escape(blocks.deal_words(opp))}* "
            "in the CRM. Nothing was changed.",
        )
        return
    said = crm.write(runtime, client, opp)
    redraw(runtime, client, body, respond, runtime.opportunity(opportunity_id, client), ref)
    if said:
        tell(body, client, respond, said)


def redraw(
    runtime: Runtime,
    client: WebClient,
    body: dict,
    respond: Callable | None,
    opp: dict,
    ref: ListRef | None,
) -> None:
    """Show the changed card where it was clicked."""
    if from_modal(body):
        deep_dive.refresh_plan(runtime, client, body, note=_done(opp))
        return
    if from_home(body):
        home.publish(runtime, client, actor(body))
        return
    message = body.get("message") or {}
    shared = from_shared_message(body)
    if shared:
        view = channels.view_of(runtime, client, body["container"]["channel_id"])
        with view.building():
            replaced = blocks.replace_card(message.get("blocks") or [], opp)
    else:
        replaced = blocks.replace_card(message.get("blocks") or [], opp)
    if replaced is not None and shared:
        container = body["container"]
        client.chat_update(
            channel=container["channel_id"],
            ts=container["message_ts"],
            **view.guard(
                {"text": message.get("text") or "Expansion opportunities", "blocks": replaced}
            ),
        )
    elif replaced is not None and respond is not None:
        send(
            respond,
            text=message.get("text") or "Expansion opportunities",
            blocks=replaced,
            replace_original=True,
        )
    elif ref is not None and from_shared_message(body):
        # Assigned from the Assign modal (its submission has no message blocks): draw the
        # shared list page again, in place.
        container = body["container"]
        page = lists.answer(runtime, ref, ephemeral=False, client=client)[0]
        client.chat_update(channel=container["channel_id"], ts=container["message_ts"], **page)
    elif ref is not None and respond is not None:
        # An ephemeral message's payload may omit its blocks: draw its page again.
        send(
            respond,
            **lists.answer(runtime, ref, ephemeral=True, client=client)[0],
            replace_original=True,
        )
    else:
        label = OUTCOMES.get(opp.get("outcome"), "Updated")
        tell(body, client, respond, {"text": label, "blocks": blocks.card(opp, actions=False)})


def _done(opp: dict) -> str:
    """What a change in the account plan did, said in the plan."""
    if (opp.get("outcome") or "open") != "open":
        return f":white_check_mark: *{OUTCOMES.get(opp['outcome'], opp['outcome'])}*."
    if opp.get("assignee"):
        return f":white_check_mark: Assigned to {blocks.user(opp['assignee'])}."
    return ":white_check_mark: Updated."


def notify_assignee(runtime: Runtime, client: WebClient, opp: dict, *, assigned_by: str) -> None:
    """DM the new owner the card, with a link to the deep-dive (posted in the DM if none yet)."""
    channel = dm_channel(client, opp["assignee"])
    link = deep_dive.existing_link(runtime, client, opp["account_id"])
    intro = (
        f"{blocks.user(assigned_by)} assigned you an expansion opportunity at "
        f"*{blocks.escape(opp['account_name'])}*."
    )
    tail = (
        f"Deep dive: <{link}|the account's analysis>"
        if link
        else "The account's deep-dive is in the thread of this message."
    )
    message = {
        "text": f"Assigned to you: {blocks.decision_text(opp)}",
        "blocks": [blocks.section(intro), *blocks.card(opp), blocks.context(tail)],
    }
    posted = client.chat_postMessage(channel=channel, **message)
    if not link:
        deep_dive.post_once(
            runtime, client, channel=channel, thread_ts=posted["ts"], account_id=opp["account_id"]
        )
