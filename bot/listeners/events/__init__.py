from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from ... import home
from ...runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    @app.event("app_home_opened")
    def app_home_opened(event: dict, client: WebClient) -> None:
        if event.get("tab", "home") == "home":
            home.publish(runtime, client, event["user"])
