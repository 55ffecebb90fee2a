from __future__ import annotations

from slack_bolt import App

from ...errors import guarded
from ...runtime import Runtime
from .expansion import expansion_callback
from .find_opportunities import find_opportunities_callback


def register(app: App, runtime: Runtime) -> None:
    app.command("/find-expansion-opportunities")(guarded(find_opportunities_callback(runtime)))
    app.command("/expansion")(guarded(expansion_callback(runtime)))
