from __future__ import annotations

from slack_bolt import App

from ...runtime import Runtime
from .find_opportunities import find_opportunities_callback


def register(app: App, runtime: Runtime) -> None:
    app.command("/find-expansion-opportunities")(find_opportunities_callback(runtime))
