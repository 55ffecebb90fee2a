from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from ... import home
from ...errors import ack_then
from ...runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    @ack_then(app.event("app_home_opened"), runtime)
    def app_home_opened(event: dict, client: WebClient, context) -> None:
        rt = runtime.for_request(context)
        if event.get("tab", "home") == "home":
            home.publish(rt, client, event["user"])
