"""New-Tier-1 alerts in Slack: after each sync and re-score, one DM per account owner and one
message per subscribed channel, each alert exactly once (the claims of expansion/alerts.py).

A pass (:func:`after_sync`): find what became Tier 1 since the last pass, resolve each
opportunity's owner e-mail to a Slack user (``users.lookupByEmail``, as every card does), and
for each owner whose choice is *on* (or *daily summary*, on the nightly pass) claim their
alerts and post them as one message of cards with their buttons. An owner no Slack user has is
skipped and logged. ``/expansion alerts here [scope]`` subscribes a channel to the same alerts
of a scope (admins only, as digest subscriptions).
"""

from __future__ import annotations

import functools
import logging
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from expansion import alerts, digest
from expansion.errors import ExpansionError, NoDataError
from expansion.scope import parse_scope
from expansion.store import AlertDelivery

from . import blocks, channels
from .digest_post import TRANSIENT
from .replies import actor, dm_channel, send
from .runtime import Runtime

log = logging.getLogger(__name__)

USAGE = (
    "`/expansion alerts here [scope]` (this channel gets each new Tier 1 of the scope after "
    "every sync), `/expansion alerts off`, `/expansion alerts list`"
)
CANNOT_POST = {"not_in_channel", "channel_not_found", "is_archived"}


@dataclass
class Report:
    """What one pass did: changes found, DMs and channel messages posted, alerts held for a
    daily summary, posts that failed, and owners skipped (no Slack user has their e-mail)."""

    changes: int = 0
    dms: int = 0
    channel_posts: int = 0
    held: int = 0
    failed: int = 0
    skipped_owners: list[str] = field(default_factory=list)


def team_of(runtime: Runtime) -> str:
    """The workspace key of alert rows: the runtime's (its partition), ``""`` for the one
    workspace of ``SLACK_BOT_TOKEN``, whoever triggered the pass."""
    return runtime.team_id or ""


def _was(change: str) -> int | None:
    """The tier an alert's change came from (``2>1@41`` -> 2; ``new>1@41`` -> None)."""
    start = change.split(">", 1)[0]
    return int(start) if start.isdigit() else None


def after_sync(
    runtime: Runtime, client: WebClient | None, *, summary: bool, holder: str | None = None
) -> Report:
    """Alert owners and subscribed channels of what became Tier 1 since the last pass.

    ``summary`` (the nightly pass) also sends the daily summaries: everything held for users
    who chose *daily summary*, in one DM each.
    """
    engine = runtime.engine
    team = team_of(runtime)
    holder = holder or digest.holder_id()
    if client is None:
        return Report()
    try:
        found = alerts.detect(
            engine,
            as_of=runtime.settings.as_of(),
            config=runtime.settings.scoring,
            team_id=team,
            record=False,
        )
    except NoDataError:
        return Report()
    report = Report(changes=len(found.changes))
    waiting = alerts.pending(engine, team_id=team)
    ids = {c.opportunity_id for c in found.changes} | set(waiting["opportunity_id"])
    records: dict[str, dict] = {}
    if ids and found.result is not None:
        for record in runtime.card_records(found.result, sorted(ids), client):
            records[record["opportunity_id"]] = record
    by_user: dict[str, list[alerts.Change]] = {}
    unmatched: dict[str, int] = {}
    for change in found.changes:
        user = (records.get(change.opportunity_id) or {}).get("owner_user")
        if not user and change.owner:
            # Cards show the e-mail when Slack would not say; an alert asks again, so a Slack
            # error stops the pass before it is recorded (the next pass does it again).
            user = runtime.directory.user_id(client, change.owner)
        if not user:
            who = change.owner or "no owner in the CRM"
            unmatched[who] = unmatched.get(who, 0) + 1
            continue
        by_user.setdefault(str(user), []).append(change)
    for owner, n in sorted(unmatched.items()):
        log.warning(
            "alerts: %d new Tier 1 on accounts of %s, whom no Slack user matches: not alerted",
            n,
            owner,
        )
        report.skipped_owners.append(owner)
    choices = alerts.preferences(engine, team_id=team)
    recipients = set(by_user) | set(waiting.loc[waiting["kind"] == "dm", "recipient"])
    for user in sorted(recipients):
        mode = choices.get(user, runtime.settings.alerts_default)
        if mode == "off":
            continue
        deliver = mode == "on" or summary
        mine = by_user.get(user, [])
        rows = alerts.claim(
            engine,
            team_id=team,
            recipient=user,
            kind="dm",
            changes=mine,
            holder=holder,
            deliver=deliver,
        )
        if not deliver:
            report.held += len(mine)
            continue
        outcome = _post(
            runtime,
            rows,
            records,
            holder=holder,
            channel=functools.partial(dm_channel, client, user),
            post=client.chat_postMessage,
            summary=mode == "daily",
        )
        report.dms += outcome == "sent"
        report.failed += outcome == "failed"
    for sub in alerts.subscriptions(engine, team_id=team):
        try:
            wanted = (
                set(runtime.find(sub.scope).opportunities["opportunity_id"])
                if sub.scope.strip()
                else None
            )
        except ExpansionError as exc:  # a scope that names no account any more
            log.warning("alerts: channel %s, scope %r: %s", sub.channel, sub.scope, exc)
            continue
        rows = alerts.claim(
            engine,
            team_id=team,
            recipient=sub.channel,
            kind="channel",
            changes=[c for c in found.changes if wanted is None or c.opportunity_id in wanted],
            holder=holder,
        )
        outcome = _post(
            runtime,
            rows,
            records,
            holder=holder,
            channel=functools.partial(str, sub.channel),
            post=client.chat_postMessage,
            scope=sub.scope,
            # A channel sees money as it may (bands when redacted or shared with a partner).
            view=channels.view_of(runtime, client, sub.channel),
        )
        report.channel_posts += outcome == "sent"
        report.failed += outcome == "failed"
    if found.run_id is not None:
        alerts.record_pass(engine, found.run_id, team_id=team)
    if report.changes or report.dms or report.channel_posts:
        log.info(
            "alerts: %d new Tier 1 (compared with scoring run %s): %d DMs, %d channel messages, "
            "%d held for daily summaries, %d failed",
            report.changes,
            found.compared_with,
            report.dms,
            report.channel_posts,
            report.held,
            report.failed,
        )
    return report


def _post(
    runtime: Runtime,
    rows: list[AlertDelivery],
    records: dict[str, dict],
    *,
    holder: str,
    channel: Callable[[], str],
    post: Callable,
    scope: str | None = None,
    summary: bool = False,
    view: channels.View | None = None,
) -> str:
    """Post the claimed ``rows`` as one message; ``sent``, ``failed`` or ``none`` (nothing
    left to say: every one of them stopped being an open Tier 1). A channel's message is built
    and guarded by its ``view`` (:mod:`bot.channels`); a DM reaches one person: figures."""
    engine = runtime.engine
    live: list[AlertDelivery] = []
    stale: list[AlertDelivery] = []
    cards: dict[str, dict] = {}
    for row in rows:
        record = records.get(row.opportunity_id)
        if record is None or int(record["tier"]) != 1:
            stale.append(row)
            continue
        live.append(row)
        cards.setdefault(row.opportunity_id, {**record, "was": _was(row.change)})
    alerts.expire(engine, stale, holder=holder)
    if not live:
        return "none"
    ordered = [r for r in records.values() if r["opportunity_id"] in cards]  # best first
    shown = view or channels.View("", False, "a direct message")
    with shown.building():
        message = blocks.alert_message(
            [cards[r["opportunity_id"]] for r in ordered], scope=scope, summary=summary
        )
    message = shown.guard(message)
    try:
        response = post(channel=channel(), unfurl_links=False, unfurl_media=False, **message)
    except SlackApiError as exc:
        status = exc.response.status_code
        error = str(exc.response.get("error") or f"HTTP {status}")
        retry = status == 429 or status >= 500 or error in TRANSIENT
        alerts.failed(engine, live, holder=holder, error=error, retry=retry)
        log.warning(
            "alerts: posting %d alerts failed (%s)%s", len(live), error, retry * "; will retry"
        )
        return "failed"
    except (urllib.error.URLError, OSError) as exc:
        alerts.failed(engine, live, holder=holder, error=f"connection: {exc}", retry=True)
        log.warning("alerts: posting %d alerts failed (%s); will retry", len(live), exc)
        return "failed"
    alerts.sent(engine, live, holder=holder, ts=str(response["ts"]))
    return "sent"


# --------------------------------------------------------------------------- App Home


def home_blocks(runtime: Runtime, user_id: str) -> list[dict]:
    """The viewer's alerts choice, for App Home."""
    mode = alerts.preference(
        runtime.engine,
        team_id=team_of(runtime),
        user_id=user_id,
        default=runtime.settings.alerts_default,
    )
    return blocks.alerts_choice(mode)


def choose(runtime: Runtime, user_id: str, value: str) -> str:
    """Store a user's choice from App Home; returns it."""
    return alerts.set_preference(
        runtime.engine, team_id=team_of(runtime), user_id=user_id, mode=value
    )


# --------------------------------------------------------------------------- /expansion alerts


def handle(
    runtime: Runtime, client: WebClient, command: dict, respond: Callable, words: list[str]
) -> None:
    """``alerts here [scope]``, ``alerts off``, ``alerts list``; answers go to the requester."""

    def say(text: str) -> None:
        send(respond, **blocks.notice(text), response_type="ephemeral")

    sub = words[0].lower() if words else ""
    team, channel, user = team_of(runtime), command["channel_id"], actor(command)
    if sub == "list":
        say(_list(runtime))
        return
    if sub not in ("here", "off"):
        say(f"Unknown alerts command `{blocks.escape(sub or '(none)')}`. Use {USAGE}.")
        return
    if user not in runtime.settings.admins:
        say(
            "Only an admin of this bot can change which channels get alerts; nothing was "
            "changed. Ask the person who installed it. Your own alerts are on the Home tab."
        )
        return
    if sub == "off":
        removed = alerts.unsubscribe(runtime.engine, team_id=team, channel=channel)
        say(
            "This channel will no longer get new Tier 1 alerts."
            if removed
            else "This channel gets no alerts. `/expansion alerts list` shows the ones that do."
        )
        return
    scope = " ".join(words[1:]).strip()
    if scope:
        parse_scope(scope, as_of=runtime.settings.as_of())  # a ScopeError says what it reads
        runtime.find(scope)  # names no account: said now, not at the next sync
    label = blocks.escape(scope or "all accounts")
    try:
        client.chat_postMessage(
            channel=channel,
            **blocks.notice(
                f"{blocks.user(user)} subscribed this channel to new Tier 1 alerts: {label}. "
                "Each new Tier 1 (or one that moved up into Tier 1) is posted here after a sync."
            ),
        )
    except SlackApiError as exc:
        if exc.response.get("error") not in CANNOT_POST:
            raise
        say(
            "I can't post in this channel, so it can't get alerts: invite me with "
            "`/invite @Expansion`, then subscribe again. Nothing was changed."
        )
        return
    alerts.subscribe(runtime.engine, team_id=team, channel=channel, scope=scope, created_by=user)
    say(
        f"Subscribed: new Tier 1 alerts for {label}, after each sync. `/expansion alerts off` stops them."
    )


def _list(runtime: Runtime) -> str:
    subs = alerts.subscriptions(runtime.engine, team_id=team_of(runtime))
    if not subs:
        return f"No channel gets alerts yet. Subscribe one with {USAGE}."
    lines = [
        f"• <#{s.channel}>: {blocks.escape(s.scope or 'all accounts')} (by {blocks.user(s.created_by)})"
        for s in subs
    ]
    return "*Alert subscriptions*\n" + "\n".join(lines)
