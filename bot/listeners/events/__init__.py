"""Events API: the App Home tab opened."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from ... import home
from ...errors import lazy_listener
from ...runtime import Runtime


def app_home_opened(event: dict, client: WebClient, context) -> None:
    rt: Runtime = context["runtime"]
    if event.get("tab", "home") == "home":
        home.publish(rt, client, event["user"])


def register(app: App, runtime: Runtime) -> None:
    lazy_listener(app.event("app_home_opened"), app_home_opened, runtime)
