"""``/expansion digest here|off|list``: which channels get the Tier 1 digest, and when."""

from __future__ import annotations

from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from expansion import schedule
from expansion.schedule import EXAMPLE

from . import blocks
from .replies import actor, send
from .runtime import Runtime

USAGE = (
    "`/expansion digest here weekly mon 09:00 [time zone] [scope] [max N]` (also `daily 08:30`, "
    "`monthly 1 09:00`), `/expansion digest off`, `/expansion digest list`"
)
CANNOT_POST = {"not_in_channel", "channel_not_found", "is_archived"}


def handle(
    runtime: Runtime, client: WebClient, command: dict, respond: Callable, words: list[str]
) -> None:
    """Run one ``digest`` subcommand; every answer goes to the requester only."""

    def say(text: str) -> None:
        send(respond, **blocks.notice(text), response_type="ephemeral")

    sub = words[0].lower() if words else ""
    team, channel, user = command.get("team_id", ""), command["channel_id"], actor(command)
    if sub == "list":
        say(_list(runtime, team))
        return
    if sub not in ("here", "off"):
        say(f"Unknown digest command `{blocks.escape(sub or '(none)')}`. Use {USAGE}.")
        return
    if user not in runtime.settings.admins:
        say("Only admins (EXPANSION_ADMINS) can change digest subscriptions. Nothing was changed.")
        return
    if sub == "off":
        removed = schedule.unsubscribe(runtime.engine, team_id=team, channel=channel)
        say(
            "This channel will no longer get the digest."
            if removed
            else "This channel has no digest subscription. `/expansion digest list` shows them."
        )
        return
    tz = client.users_info(user=user)["user"].get("tz") or "UTC"
    plan = schedule.parse_schedule(
        " ".join(words[1:]), default_timezone=tz, as_of=runtime.settings.as_of()
    )
    label = f"{plan.scope or 'all accounts'}, top {plan.max_cards} Tier 1"
    try:
        client.chat_postMessage(
            channel=channel,
            **blocks.notice(
                f"{blocks.user(user)} subscribed this channel to the expansion digest "
                f"{plan.describe()}: {blocks.escape(label)}."
            ),
        )
    except SlackApiError as exc:
        if exc.response.get("error") not in CANNOT_POST:
            raise
        say(
            "I can't post in this channel, so it can't get a digest: invite me with "
            "`/invite @Expansion`, then subscribe again. Nothing was changed."
        )
        return
    schedule.subscribe(
        runtime.engine, team_id=team, channel=channel, schedule=plan, created_by=user
    )
    say(
        f"Subscribed: {plan.describe()}, {blocks.escape(label)}. Example to change it: `{EXAMPLE}`."
    )


def _list(runtime: Runtime, team: str) -> str:
    subs = schedule.subscriptions(runtime.engine, team_id=team)
    if not subs:
        return f"No channel gets the digest yet. Subscribe one with {USAGE}."
    lines = [
        f"• <#{s.channel}>: {schedule.schedule_of(s).describe()}, "
        f"{blocks.escape(s.scope or 'all accounts')}, top {s.max_cards} (by {blocks.user(s.created_by)})"
        for s in subs
    ]
    return "*Digest subscriptions*\n" + "\n".join(lines)
