"""Which workspaces the app is installed in, and each one's bot token (multi-workspace mode).

One workspace (``SLACK_BOT_TOKEN``) is the single "installation"; with ``SLACK_CLIENT_ID`` the
installations are the ones the OAuth flow stored in slack_sdk's SQLAlchemy installation store.
"""

from __future__ import annotations

import sqlalchemy as sa
from slack_sdk import WebClient

from .app import installation_store, web_client
from .runtime import Runtime


def teams(runtime: Runtime) -> list[str | None]:
    """Installed workspaces (``[None]``: the one workspace of ``SLACK_BOT_TOKEN``)."""
    root = runtime.root or runtime
    if not root.settings.multi_workspace:
        return [None]
    bots = sa.table("slack_bots", sa.column("client_id"), sa.column("team_id"))
    with root.engine.connect() as conn:
        rows = conn.execute(
            sa.select(bots.c.team_id)
            .where(bots.c.client_id == root.settings.client_id, bots.c.team_id.is_not(None))
            .distinct()
            .order_by(bots.c.team_id)
        )
        return [team for (team,) in rows]


def client_for(runtime: Runtime, team_id: str | None) -> WebClient | None:
    """A Web API client with ``team_id``'s bot token; ``None`` if that workspace uninstalled."""
    root = runtime.root or runtime
    settings = root.settings
    if not settings.multi_workspace:
        return web_client(settings.bot_token, settings.api_url)
    bot = installation_store(root).find_bot(enterprise_id=None, team_id=team_id)
    if bot is None or not bot.bot_token:
        return None
    return web_client(bot.bot_token, settings.api_url)
