"""The App Home tab: the portfolio in short and the viewer's own opportunities."""

from __future__ import annotations

from slack_sdk import WebClient

from expansion import workflow
from expansion.errors import NoDataError

from . import blocks, sources
from .runtime import Runtime


def view(runtime: Runtime, user_id: str) -> dict:
    """The Home view for ``user_id``."""
    try:
        result = runtime.find("all")
    except NoDataError as exc:
        return {
            "type": "home",
            "blocks": [blocks.header("Expansion opportunities"), blocks.section(str(exc))],
        }
    opps = result.opportunities
    mine = result.opportunity_records(opps.loc[opps["assignee"] == user_id, "opportunity_id"])
    assigned = workflow.assigned_ids(runtime.engine, user_id)
    return blocks.home_view(
        summary=result.summary,
        sources=sources.synced(runtime),
        as_of=result.as_of.isoformat(),
        mine=mine,
        closed_mine=max(0, len(assigned) - len(mine)),
    )


def publish(runtime: Runtime, client: WebClient, user_id: str) -> None:
    client.views_publish(user_id=user_id, view=view(runtime, user_id))
