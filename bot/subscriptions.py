"""``/expansion digest here|off|list``: which channels get the Tier 1 digest, and when."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from expansion import digest as digest_store
from expansion import schedule
from expansion.schedule import EXAMPLE, Schedule

from . import blocks, channels, digest_post
from .replies import actor, send
from .runtime import Runtime

USAGE = (
    "`/expansion digest here weekly mon 09:00 [time zone] [scope] [max N]` (also `daily 08:30`, "
    "`monthly 1 09:00`), `/expansion digest off`, `/expansion digest list`, "
    "`/expansion digest preview`"
)
PREVIEW_MESSAGES = 4  # of the response_url's 5 posts; the last one explains what is left out
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
    if sub == "preview":
        _preview(runtime, client, command, respond, team, channel)
        return
    if sub not in ("here", "off"):
        say(f"Unknown digest command `{blocks.escape(sub or '(none)')}`. Use {USAGE}.")
        return
    if user not in runtime.settings.admins:
        say(
            "Only an admin of this bot can change digest subscriptions; nothing was changed. "
            "Ask the person who installed it."
        )
        return
    if sub == "off":
        removed = schedule.unsubscribe(runtime.engine, team_id=team, channel=channel)
        runtime.notify_subscriptions_changed()
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
    runtime.notify_subscriptions_changed()
    say(
        f"Subscribed: {plan.describe()}, {blocks.escape(label)}. Example to change it: `{EXAMPLE}`."
    )


def _preview(
    runtime: Runtime,
    client: WebClient,
    command: dict,
    respond: Callable,
    team: str,
    channel: str,
) -> None:
    """This channel's next digest, to the requester only: nothing is posted or claimed. Money
    is shown as the channel will see it (bands in a redacted channel)."""
    view = channels.view_of(runtime, client, channel)
    sub = schedule.subscription(runtime.engine, channel, team_id=team)
    plan = (
        schedule.schedule_of(sub)
        if sub
        else Schedule(cadence="weekly", at_time="09:00", timezone="UTC", weekday=0)
    )
    report = digest_post.run(
        runtime,
        None,
        digest_post.Target(team, channel, plan),
        dry_run=True,
        now=datetime.now(UTC),
        view=view,
    )
    messages = [view.guard(m.payload) for m in report.messages if m.kind != "deep_dive"]
    dives = sorted({m.key for m in report.messages if m.kind == "deep_dive"})
    note = "Preview: only you can see this; nothing was posted."
    if view.redact:
        note += " Money shows as bands, as this channel sees it (`/expansion settings`)."
    if not sub:
        note += " This channel has no subscription, so this is the default (weekly, all accounts)."
    if len(messages) > PREVIEW_MESSAGES:
        note += f" {len(messages) - PREVIEW_MESSAGES} more card messages are left out here."
    note += " In the channel, the first message is the digest; the cards go in its thread"
    note += f", then the deep-dives of {len(dives)} accounts." if dives else "."
    for message in messages[:PREVIEW_MESSAGES]:
        send(respond, **message, response_type="ephemeral", replace_original=False)
    send(respond, **blocks.notice(note), response_type="ephemeral", replace_original=False)


def _list(runtime: Runtime, team: str) -> str:
    subs = schedule.subscriptions(runtime.engine, team_id=team)
    if not subs:
        return f"No channel gets the digest yet. Subscribe one with {USAGE}."
    last = digest_store.last_runs(runtime.engine, team_id=team)
    now = datetime.now(UTC)
    lines = []
    for s in subs:
        plan = schedule.schedule_of(s)
        upcoming = CronTrigger(**plan.cron_fields()).get_next_fire_time(None, now)
        line = (
            f"• <#{s.channel}>: {plan.describe()}, {blocks.escape(s.scope or 'all accounts')}, "
            f"top {s.max_cards} (by {blocks.user(s.created_by)}). Next: {_when(upcoming, plan)}"
        )
        run = last.get(s.channel)
        if run is not None:
            line += f". Last: {_last(run, plan)}"
        lines.append(line)
    return "*Digest subscriptions*\n" + "\n".join(lines)


def _when(at: datetime | None, plan: Schedule) -> str:
    if at is None:
        return "never"
    local = at.astimezone(plan.zone)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def _last(run, plan: Schedule) -> str:
    when = _when(run.finished_at or run.claimed_at, plan)
    if run.status == "posted":
        return f"posted {when} ({run.messages} messages)"
    if run.status == "failed":
        return f"*failed* {when}: {blocks.escape(digest_post.describe_error(run.error))}"
    return f"in progress since {when} ({run.posted} of {run.messages} messages posted)"
