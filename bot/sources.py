"""``/expansion sync`` and ``/expansion status``: pull the configured sources from Slack, and see
how each one's last sync went (admins only)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pandas as pd

from expansion import crm, pipeline, store
from expansion.connectors import for_team
from expansion.errors import ExpansionError, NoDataError
from expansion.merge import conflict_counts

from . import blocks
from .replies import actor, send
from .runtime import Runtime

log = logging.getLogger(__name__)

_running = threading.Lock()


def handle(
    runtime: Runtime, command: dict, respond: Callable, words: list[str], client=None
) -> None:
    """``sync [source]`` or ``status``; every answer goes to the requester only. After a sync,
    owners and subscribed channels are alerted of new Tier 1s (``client``: bot/alerts.py)."""

    def say(text: str) -> None:
        send(respond, **blocks.notice(text), response_type="ephemeral", replace_original=False)

    if actor(command) not in runtime.settings.admins:
        say(
            "Only an admin of this bot can sync sources or see their status. "
            "Ask the person who installed it."
        )
        return
    if words and words[0].lower() == "status":
        say(status(runtime))
        return
    configured = team_sources(runtime)
    wanted = words[1:] if words and words[0].lower() == "sync" else words
    full = "full" in [w.lower() for w in wanted]
    wanted = [w for w in wanted if w.lower() != "full"]
    if wanted:
        configured = [c for c in configured if c.name in wanted]
        unknown = sorted(set(wanted) - {c.name for c in configured})
        if unknown:
            names = ", ".join(c.name for c in team_sources(runtime)) or "none configured"
            say(
                f"Unknown source {blocks.escape(', '.join(unknown))}. Sources: {blocks.escape(names)}."
            )
            return
    if not configured:
        say(
            "No sources are configured: add `[[sources]]` to expansion.toml (EXPANSION_CONFIG) "
            "and restart the bot. `expansion sources` on the server shows them."
        )
        return
    if not _running.acquire(blocking=False):
        say("A sync is already running; `/expansion status` shows how the last ones went.")
        return
    try:
        say(f"Syncing {', '.join(blocks.escape(c.name) for c in configured)}…")
        done = sync(runtime, configured, full=full)
        if client is not None:
            from .alerts import after_sync  # bot.alerts -> bot.digest_post -> bot.sources

            try:
                report = after_sync(runtime, client, summary=False)
            except Exception:  # the sync stands; the next pass sends what this one could not
                log.exception("alerts after /expansion sync failed")
                report = None
                done += (
                    "\nAlerts could not be sent now; the next sync or the nightly job sends them."
                )
            if report is not None and report.changes:
                done += (
                    f"\nAlerts: {report.changes} new Tier 1, {report.dms} DMs, "
                    f"{report.channel_posts} channel messages"
                    + (f", {report.held} held for daily summaries" if report.held else "")
                    + (
                        f", {len(report.skipped_owners)} owners with no Slack user"
                        if report.skipped_owners
                        else ""
                    )
                )
        say(done)
    finally:
        _running.release()


def team_sources(runtime: Runtime) -> list:
    """The configured sources of this runtime's workspace (``team = "T..."`` in expansion.toml
    when one deployment serves several workspaces)."""
    return for_team(list(runtime.settings.sources), runtime.team_id)


def sync(runtime: Runtime, configured: list, *, full: bool = False) -> str:
    """Sync each source (a failure keeps that source's data and does not stop the others),
    re-score, and say what happened, one line per source."""
    done = pipeline.sync_all(
        runtime.engine,
        configured,
        as_of=runtime.settings.as_of(),
        config=runtime.settings.scoring,
        full=full,
    )
    lines = []
    for outcome in done.outcomes:
        name = blocks.escape(outcome.source.name)
        if outcome.report is None:
            lines.append(
                f"• :x: *{name}* failed, previous data kept: {blocks.escape(outcome.reason)}"
            )
            continue
        run = outcome.report.run
        kind = "incremental" if run.incremental else "full"
        lines.append(
            f"• :white_check_mark: *{name}* ({kind}): {run.rows_accepted} rows"
            + (f", {run.rows_rejected} rejected" if run.rows_rejected else "")
        )
    if done.score_error is not None:
        lines.append(blocks.escape(str(done.score_error)))
    elif done.reports:
        lines += [f"• {blocks.escape(line)}" for line in read_back(runtime, done)]
    conflicts = _conflicts(runtime)
    if conflicts:
        lines.append(conflicts)
    return blocks.clip("*Sync finished*\n" + "\n".join(lines), 2900)


def read_back(runtime: Runtime, done: pipeline.SyncAllReport) -> list[str]:
    """After a sync of the CRM source, with ``[crm]`` configured: CRM amounts follow the new
    scoring and won / lost / reopened deals are recorded as outcomes (as ``expansion sync``
    does). Lines to show; a CRM failure is one of them, the sync is kept."""
    try:
        return crm.after_sync(
            runtime.engine,
            [r.run.source for r in done.reports],
            as_of=runtime.settings.as_of(),
            config=runtime.settings.scoring,
            path=runtime.settings.config_path,
            sources=team_sources(runtime),
        )
    except ExpansionError as exc:
        return [f"CRM read-back skipped (the sync is kept): {exc}"]


def synced(runtime: Runtime) -> list[blocks.Source]:
    """The sources the data comes from, each with its last successful sync, newest first: what
    a list or a digest shows the channel (names and times, never locations)."""
    runs = store.sync_runs(runtime.engine, limit=50)
    runs = runs[runs["status"] == "succeeded"].drop_duplicates("source")
    out = []
    for source, finished in zip(runs["source"], runs["finished_at"], strict=True):
        at = pd.Timestamp(finished) if finished is not None and not pd.isna(finished) else None
        out.append(blocks.Source(str(source), at.to_pydatetime() if at is not None else None))
    return out


def status(runtime: Runtime) -> str:
    """Each source's last sync, and where sources disagree."""
    syncs = store.latest_syncs(runtime.engine, [c.name for c in team_sources(runtime)])
    if not syncs:
        return "No source has synced yet and none is configured."
    lines = ["*Sources*"]
    for name, last in syncs:
        if last is None:
            lines.append(f"• *{blocks.escape(name)}*: never synced")
            continue
        when = str(last["finished_at"] or last["started_at"])[:16]
        if last["status"] == "failed":
            lines.append(
                f"• :x: *{blocks.escape(name)}*: failed {when}: {blocks.escape(str(last['error'] or ''))}"
            )
        else:
            lines.append(
                f"• :white_check_mark: *{blocks.escape(name)}*: {when}, {last['rows_accepted']} rows"
                + (f", {last['rows_rejected']} rejected" if last["rows_rejected"] else "")
            )
    conflicts = _conflicts(runtime)
    if conflicts:
        lines.append(conflicts)
    return blocks.clip("\n".join(lines), 2900)


def _conflicts(runtime: Runtime) -> str:
    try:
        found = store.conflicts(runtime.engine)
    except NoDataError:
        return ""
    if found.empty:
        return ""
    return (
        f":warning: {len(found)} values disagree between sources (the merge rule picked one): "
        + blocks.escape(conflict_counts(found))
    )
