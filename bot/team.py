"""The team and its workload in Slack: ``/expansion team [add|remove|import]``,
``/expansion workload``, and the card's *Assign…* modal that lists suggested owners first.

The people and the ranking are the engine's (:mod:`expansion.team`); this module finds their
Slack ids (``users.lookupByEmail`` through the runtime's cached directory, remembered in the
table), checks who may change what, and answers. Team changes are admin-only; the list and the
workload are shown to whoever asks (ephemeral).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from expansion import team
from expansion.errors import TeamError

from . import blocks, cards
from . import team_blocks as tb
from .permissions import may_assign
from .replies import actor, from_home, send
from .runtime import Runtime
from .security import response_url_allowed

USAGE = (
    "`/expansion team` lists the team; admins change it: `/expansion team add @person CSM|AE|other "
    "[capacity]` (capacity = most open opportunities, default 10), `/expansion team remove "
    "@person`, `/expansion team import` (every account owner of the CRM as a CSM)."
)
_MENTION = re.compile(r"<@([UW][A-Z0-9]{1,31})(?:\|[^>]*)?>")
_MAILTO = re.compile(r"<mailto:([^|>]+)(?:\|[^>]*)?>")


# --------------------------------------------------------------------------- people


def resolved_members(runtime: Runtime, client: WebClient | None) -> pd.DataFrame:
    """The active team with each member's Slack id, looked up by e-mail where the table has
    none (and remembered there)."""
    members = team.members(runtime.engine)
    missing = members["slack_user_id"].isna()
    if client is None or not missing.any():
        return members
    found: dict[str, str] = {}
    for email in members.loc[missing, "email"]:
        try:
            user_id = runtime.directory.user_id(client, email)
        except SlackApiError:
            user_id = None
        if user_id:
            found[email] = user_id
    if found:
        team.remember_slack_ids(runtime.engine, found)
        members.loc[missing, "slack_user_id"] = members.loc[missing, "email"].map(found)
    return members


def _person(client: WebClient, runtime: Runtime, text: str) -> tuple[str, str | None, str]:
    """(email, Slack id, name) of the person ``text`` names: an @mention, a user id or an
    e-mail.

    Raises:
        TeamError: none of those, or Slack does not give the person's e-mail.
    """
    text = text.strip()
    mention = _MENTION.fullmatch(text)
    user_id = mention.group(1) if mention else None
    if user_id is None and cards.SLACK_USER_ID.fullmatch(text):
        user_id = text
    if user_id is None:
        mailto = _MAILTO.fullmatch(text)
        email = team.email_of(mailto.group(1) if mailto else text.strip("<>"))
        try:
            found = runtime.directory.user_id(client, email)
            info = client.users_info(user=found)["user"] if found else {}
        except SlackApiError:
            found, info = None, {}
        return email, found, _name(info)
    try:
        info = client.users_info(user=user_id)["user"]
    except SlackApiError as exc:
        raise TeamError(f"Slack does not know the user {user_id}.") from exc
    profile = info.get("profile") or {}
    found_email = profile.get("email")
    if not found_email:
        raise TeamError(
            f"Slack did not give me the e-mail of <@{user_id}> (the app needs the "
            "users:read.email scope): add them by e-mail instead."
        )
    return team.email_of(str(found_email)), user_id, _name(info)


def _name(info: dict) -> str:
    """A Slack user's name (real name, else the handle)."""
    profile = info.get("profile") or {}
    return str(profile.get("real_name") or info.get("real_name") or info.get("name") or "")


def _who(text: str) -> str:
    """Plain `@name` text cannot be resolved: say how to name the person."""
    if text.startswith("@"):
        raise TeamError(
            f"Slack sent `{blocks.escape(text[:40])}` as plain text: name the person by their "
            "e-mail, or mention them from the autocomplete so Slack sends their id."
        )
    return text


# --------------------------------------------------------------------------- commands


def handle(runtime: Runtime, client: WebClient, command: dict, respond: Callable, words: list[str]):
    """``/expansion team [list|add|remove|import]``; every answer goes to the requester only."""

    def say(text: str | dict) -> None:
        payload = blocks.notice(text) if isinstance(text, str) else text
        send(respond, **payload, response_type="ephemeral", replace_original=False)

    verb = words[0].lower() if words else "list"
    if verb in ("list", "show"):
        say(tb.team_message(resolved_members(runtime, client)))
        return
    if verb not in ("add", "remove", "import"):
        say(f"Unknown team command `{blocks.escape(verb[:40])}`. {USAGE}")
        return
    user = actor(command)
    if user not in runtime.settings.admins:
        say("Only an admin of this bot can change the team; nothing was changed. " + USAGE)
        return
    try:
        if verb == "import":
            say(_import(runtime, client, user))
        elif verb == "add":
            say(_add(runtime, client, user, words[1:]))
        else:
            say(_remove(runtime, client, user, words[1:]))
    except TeamError as exc:
        say(f"{blocks.escape(str(exc))} Nothing was changed.")


def _add(runtime: Runtime, client: WebClient, user: str, args: list[str]) -> str:
    if len(args) < 2 or len(args) > 3:
        return f"Say who, their role and capacity. {USAGE}"
    role = capacity = None
    for arg in args[1:]:
        if arg.strip().isdigit() or arg.strip().lstrip("-").isdigit():
            capacity = arg
        else:
            role = arg
    if role is None:
        return f"Say their role: CSM, AE or other. {USAGE}"
    # Check the role and capacity before asking Slack who the person is.
    team.role_of(role)
    team.capacity_of(capacity if capacity is not None else team.DEFAULT_CAPACITY)
    email, user_id, name = _person(client, runtime, _who(args[0]))
    new = team.add_member(
        runtime.engine,
        email=email,
        role=role,
        capacity=capacity if capacity is not None else team.DEFAULT_CAPACITY,
        slack_user_id=user_id,
        name=name,
        actor=user,
    )
    row = team.members(runtime.engine).set_index("email").loc[email]
    person = blocks.user(user_id) if user_id else blocks.escape(email)
    tail = "" if user_id else " No Slack user has this e-mail yet: they are suggested once one has."
    return (
        f"{'Added' if new else 'Updated'} {person}: {blocks.escape(row['role'])}, capacity "
        f"{int(row['capacity'])} open opportunities.{tail}"
    )


def _remove(runtime: Runtime, client: WebClient, user: str, args: list[str]) -> str:
    if len(args) != 1:
        return f"Say who to remove. {USAGE}"
    text = _who(args[0])
    mention = _MENTION.fullmatch(text)
    user_id = (
        mention.group(1) if mention else (text if cards.SLACK_USER_ID.fullmatch(text) else None)
    )
    if user_id:
        removed = team.remove_member(runtime.engine, slack_user_id=user_id, actor=user)
    else:
        mailto = _MAILTO.fullmatch(text)
        removed = team.remove_member(
            runtime.engine, email=mailto.group(1) if mailto else text, actor=user
        )
    if removed is None:
        return f"{blocks.escape(text[:80])} is not in the team. `/expansion team` lists it."
    return (
        f"Removed {blocks.escape(removed)} from the team: no longer suggested (their "
        "assignments stay). `/expansion team add` brings them back."
    )


def _import(runtime: Runtime, client: WebClient, user: str) -> str:
    profiles = runtime.find("").profiles
    added = team.import_owners(runtime.engine, profiles["owner"].tolist(), actor=user)
    resolved_members(runtime, client)
    if not added:
        return (
            "Every account owner of the synced data is in the team already (or was removed); "
            "nothing was added."
        )
    shown = ", ".join(blocks.escape(e) for e in added[:20])
    more = f" and {len(added) - 20} more" if len(added) > 20 else ""
    return (
        f"Added {len(added)} account owners from the CRM as CSMs with capacity "
        f"{team.DEFAULT_CAPACITY}: {shown}{more}. Change a role or capacity with "
        "`/expansion team add <e-mail> AE 8`."
    )


def workload(runtime: Runtime, client: WebClient, command: dict, respond: Callable) -> None:
    """``/expansion workload``: each person's open expansion pipeline (ephemeral)."""
    book = runtime.find("").opportunities
    load = team.workload(book, resolved_members(runtime, client))
    unassigned = book[book["assignee"].isna() | (book["assignee"].astype(str) == "")]
    message = tb.workload_message(
        load,
        unassigned=len(unassigned),
        unassigned_ev=float(pd.to_numeric(unassigned["expected_value"]).fillna(0).sum()),
    )
    send(respond, **message, response_type="ephemeral", replace_original=False)


# --------------------------------------------------------------------------- the Assign modal


def suggestions(runtime: Runtime, client: WebClient | None, opp: dict) -> pd.DataFrame:
    """Suggested owners of card record ``opp``, best first."""
    result = runtime.find("")
    return team.suggest_owners(
        opp,
        result.opportunities,
        result.profiles,
        resolved_members(runtime, client),
        owner_user=opp.get("owner_user"),
    )


def open_assign(runtime: Runtime, client: WebClient, body: dict, block_id: str) -> None:
    """*Assign…* on a card: a modal listing the suggested owners first, then anyone. It opens
    at once with a loading view (Slack's trigger id lasts 3 s) and is filled in after."""
    container = body.get("container") or {}
    place = tb.AssignPlace(
        block_id=block_id,
        channel=str(container.get("channel_id") or (body.get("channel") or {}).get("id") or ""),
        message_ts=str(container.get("message_ts") or ""),
        ephemeral=bool(container.get("is_ephemeral")),
        home=from_home(body),
        response_url=str(body.get("response_url") or ""),
    )
    opened = client.views_open(trigger_id=body["trigger_id"], view=tb.assign_loading_view(place))
    view_id, view_hash = opened["view"]["id"], opened["view"].get("hash")

    def show(view: dict) -> None:
        client.views_update(view_id=view_id, hash=view_hash, view=view)

    opportunity_id, _ = blocks.parse_card_block_id(block_id)
    opp = runtime.opportunity(opportunity_id, client)
    if opp is None:
        show(
            tb.assign_notice_view(
                place,
                "This opportunity is not in the latest scoring any more (the data changed). "
                "Run `/find-expansion-opportunities` again for fresh cards.",
            )
        )
        return
    user = actor(body)
    if not may_assign(user, admins=runtime.settings.admins, owner_user=opp.get("owner_user")):
        who = f"the account owner ({blocks.owner_text(opp)}) or " if opp.get("owner") else ""
        show(
            tb.assign_notice_view(
                place,
                f"Only {who}an admin of this bot can assign "
                f"*{blocks.escape(opp['account_name'])}: {blocks.escape(blocks.deal_words(opp))}*.",
            )
        )
        return
    show(tb.assign_view(opp, suggestions(runtime, client, opp), place))


def ack_assign(ack, body: dict) -> None:
    """The Assign modal's ack: an error under the inputs when nobody is picked (the modal then
    stays open), otherwise close it and assign lazily."""
    errors = tb.assign_errors(body.get("view") or {})
    if errors:
        ack(response_action="errors", errors=errors)
    else:
        ack()


def submit_assign(runtime: Runtime, client: WebClient, body: dict) -> None:
    """The Assign modal was submitted: assign through :func:`bot.cards.change` (permissions,
    audit, the card redrawn where it was clicked, the DM to the new owner)."""
    view = body.get("view") or {}
    if tb.assign_errors(view):
        return  # the ack kept the modal open with the error: nothing to do (Bolt runs us anyway)
    place = tb.AssignPlace.decode(view.get("private_metadata"))
    suggested, other = tb.chosen(view)
    assignee = other or suggested
    if place is None or not assignee:
        return
    click: dict = {"user": body.get("user") or {}, "type": "block_actions"}
    respond = None
    if place.home:
        click["container"] = {"type": "view"}
        click["view"] = {"type": "home"}
    else:
        click["container"] = {
            "type": "message",
            "channel_id": place.channel,
            "message_ts": place.message_ts,
            "is_ephemeral": place.ephemeral,
        }
        click["channel"] = {"id": place.channel}
        url = place.response_url
        if url and response_url_allowed(url, runtime.settings.response_url_hosts):
            click["response_url"] = url
            respond = Respond(response_url=url)
    cards.change(
        runtime, client, click, respond, block_id=place.block_id, what="assign", assignee=assignee
    )
