"""App Home's alerts choice: on, daily summary or off."""

from __future__ import annotations

from slack_bolt import App

from ... import alerts
from ...errors import lazy_listener
from ...replies import actor
from ...runtime import Runtime


def alerts_mode(body: dict, action: dict, context) -> None:
    rt: Runtime = context["runtime"]
    alerts.choose(rt, actor(body), action["selected_option"]["value"])


def register(app: App, runtime: Runtime) -> None:
    lazy_listener(app.action("alerts_mode"), alerts_mode, runtime)
