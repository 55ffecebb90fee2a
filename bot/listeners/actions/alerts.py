"""App Home's alerts choice: on, daily summary or off."""

from __future__ import annotations

from slack_bolt import App

from ... import alerts
from ...errors import ack_then
from ...replies import actor
from ...runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    @ack_then(app.action("alerts_mode"), runtime)
    def alerts_mode(body: dict, action: dict, context) -> None:
        rt = runtime.for_request(context)
        alerts.choose(rt, actor(body), action["selected_option"]["value"])
