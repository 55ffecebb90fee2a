from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from ... import home
from ...errors import guarded
from ...runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    @app.event("app_home_opened")
    @guarded
    def app_home_opened(event: dict, client: WebClient, context) -> None:
        rt = runtime.for_team(context.team_id)
        if event.get("tab", "home") == "home":
            home.publish(rt, client, event["user"])
