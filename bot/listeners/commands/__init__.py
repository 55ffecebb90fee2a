from __future__ import annotations

from slack_bolt import App

from ...errors import ack_then
from ...runtime import Runtime
from .expansion import expansion_callback
from .find_opportunities import find_opportunities_callback


def register(app: App, runtime: Runtime) -> None:
    ack_then(app.command("/find-expansion-opportunities"), runtime)(
        find_opportunities_callback(runtime)
    )
    ack_then(app.command("/expansion"), runtime)(expansion_callback(runtime))
