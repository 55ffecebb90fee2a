"""The App Home tab: the viewer's plays this week, the team's, and the portfolio in short."""

from __future__ import annotations

from slack_sdk import WebClient

from expansion import calibration, workflow
from expansion.errors import NoDataError

from . import blocks, sources
from .runtime import Runtime


def view(runtime: Runtime, user_id: str, client: WebClient | None = None) -> dict:
    """The Home view for ``user_id``: theirs this week (Tier 1-2 plays assigned to them, or on
    accounts they own when ``client`` can tell their e-mail), then the team's."""
    try:
        result = runtime.find("all")
    except NoDataError as exc:
        return {
            "type": "home",
            "blocks": [blocks.header("Expansion opportunities"), blocks.section(str(exc))],
        }
    opps = result.opportunities
    email = runtime.directory.email_of(client, user_id) if client is not None else None
    owned = opps["owner"].str.lower().eq(email.lower()) if email else False
    week = opps["tier"] <= 2
    mine_rows = week & ((opps["assignee"] == user_id) | owned)
    mine = runtime.card_records(result, opps.loc[mine_rows, "opportunity_id"], client)
    team = runtime.card_records(
        result, opps.loc[week & ~mine_rows, "opportunity_id"].head(blocks.HOME_TEAM_LINES), client
    )
    assigned = workflow.assigned_ids(runtime.engine, user_id)
    open_assigned = int((opps["assignee"] == user_id).sum())
    return blocks.home_view(
        summary=result.summary,
        sources=sources.synced(runtime),
        as_of=result.as_of.isoformat(),
        mine=mine,
        closed_mine=max(0, len(assigned) - open_assigned),
        team=team,
        team_total=int((week & ~mine_rows).sum()),
        team_unclaimed=int((week & ~mine_rows & opps["assignee"].isna()).sum()),
        team_arr=float(opps.loc[week & ~mine_rows, "expansion_arr"].sum()),
        calibration=calibration.for_engine(
            runtime.engine, runtime.settings.scoring, as_of=result.as_of
        ).note(),
    )


def publish(runtime: Runtime, client: WebClient, user_id: str) -> None:
    client.views_publish(
        user_id=user_id, view=with_alerts(runtime, user_id, view(runtime, user_id, client))
    )


def with_alerts(runtime: Runtime, user_id: str, home: dict) -> dict:
    """``home`` with the viewer's new-Tier-1 alerts choice at its end (bot/alerts.py)."""
    from .alerts import home_blocks

    room = blocks.MAX_HOME_BLOCKS - 2
    return {**home, "blocks": [*home["blocks"][:room], *home_blocks(runtime, user_id)]}
