"""The ``expansion`` command: the engine's commands plus ``serve`` for the Slack bot.

The engine's CLI (:mod:`expansion.cli`) knows nothing of Slack; this module adds the commands
that need it, so ``expansion/`` stays free of Slack imports.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import urllib.error
from typing import Annotated

import typer

from expansion.cli import AsOfOption, DbOption, app, fail, out, parse_as_of
from expansion.cli import main as _main
from expansion.errors import ConfigError, ExpansionError


@app.command()
def serve() -> None:
    """Run the Slack bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on $PORT (3000)."""
    from .server import serve as run

    run(_settings(http=True))


def _settings(*, http: bool, token: bool = True, db: str | None = None, as_of: str | None = None):
    from .settings import Settings

    try:
        settings = Settings.from_env(http=http, token=token)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    changes: dict = {}
    if db:
        changes["db_url"] = db
    if as_of:
        changes["fixed_as_of"] = parse_as_of(as_of)
    return dataclasses.replace(settings, **changes)


@app.command()
def scheduler() -> None:
    """Run only the digest scheduler (no HTTP): for deployments that keep it in its own process.

    Several may run: one leads at a time (PostgreSQL advisory lock, or a lock file next to a
    SQLite database) and the others take over when it stops.
    """
    from .startup import run_scheduler

    run_scheduler(_settings(http=False))


@app.command("digest")
def digest_now(
    channel: Annotated[str, typer.Option("--channel", help="Channel id (C...) to post to.")],
    scope: Annotated[
        str | None,
        typer.Option("--scope", help="Scope, e.g. 'enterprise' (default: the subscription's)."),
    ] = None,
    max_cards: Annotated[
        int | None, typer.Option("--max", min=1, max=50, help="Tier 1 cards (default 25).")
    ] = None,
    team: Annotated[
        str | None, typer.Option("--team", help="Workspace id (default: the channel's).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the messages as Block Kit JSON; post nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Post even if this period's digest was posted.")
    ] = False,
    db: DbOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Post one channel's Tier 1 digest now (once per period unless --force)."""
    from slack_sdk.errors import SlackApiError

    from expansion import schedule, store
    from expansion.schedule import Schedule

    from . import digest_post, installations
    from .app import web_client
    from .runtime import Runtime

    settings = _settings(http=False, token=not dry_run, db=db, as_of=as_of)
    if settings.multi_workspace and not team:
        print(
            "error: this app serves several workspaces (SLACK_CLIENT_ID is set): say which "
            "with --team T0123ABCD.",
            file=sys.stderr,
        )
        raise typer.Exit(2)
    root = Runtime(engine=store.connect(settings.db_url, team=""), settings=settings)
    runtime = root.for_team(team)
    engine = runtime.engine
    sub = schedule.subscription(engine, channel, team_id=team)
    plan = (
        schedule.schedule_of(sub)
        if sub
        else Schedule(cadence="weekly", at_time="09:00", timezone="UTC", weekday=0)
    )
    plan = dataclasses.replace(
        plan,
        scope=plan.scope if scope is None else scope,
        max_cards=max_cards or plan.max_cards,
    )
    client = (
        installations.client_for(root, team)
        if settings.multi_workspace
        else web_client(settings.bot_token, settings.api_url)
    )
    if client is None:
        print(f"error: the app is not installed in workspace {team}.", file=sys.stderr)
        raise typer.Exit(2)
    try:
        runtime.find(plan.scope)  # a bad scope or an empty database is said before Slack is asked
        team_id = team or (sub.team_id if sub else None)
        if team_id is None:
            team_id = "" if dry_run else client.auth_test()["team_id"]
        target = digest_post.Target(team_id=team_id, channel=channel, schedule=plan)
        report = digest_post.run(
            runtime,
            client,
            target,
            force=force,
            dry_run=dry_run,
            pace=settings.digest_pace,
        )
    except ExpansionError as exc:
        fail(exc)
    except (SlackApiError, urllib.error.URLError, OSError) as exc:
        reason = exc.response.get("error") if isinstance(exc, SlackApiError) else str(exc)
        print(
            f"error: cannot use Slack at {settings.api_url} ({reason}); check SLACK_BOT_TOKEN and "
            "SLACK_API_URL. Nothing was posted.",
            file=sys.stderr,
        )
        raise typer.Exit(1) from None
    if report.status == "dry-run":
        messages = [
            {"kind": m.kind, "thread_seq": m.thread_seq, **m.payload} for m in report.messages
        ]
        print(json.dumps({"channel": channel, "messages": messages}, indent=2))
        return
    run = report.run
    # Plain text: the channel and Slack's error text are not rich markup.
    if report.status == "posted":
        out.print(
            f"Posted the digest to {channel}: one message and {run.messages - 1} replies in its "
            f"thread (run {run.id}, {run.period}).",
            markup=False,
        )
    elif report.status == "skipped":
        state = run.status if run else "claimed"
        out.print(
            f"Nothing posted: the digest of {channel} for {run.period if run else 'this period'} "
            f"is {state} already (run {run.id if run else '?'}). Use --force to post another.",
            markup=False,
        )
    elif report.status == "interrupted":
        out.print(
            f"Interrupted after {report.posted} messages ({report.error}); the scheduler resumes it, "
            "or run this command again in two minutes.",
            markup=False,
        )
        raise typer.Exit(1)
    else:
        print(
            f"error: the digest of {channel} failed: {digest_post.describe_error(report.error)}",
            file=sys.stderr,
        )
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    _main()
