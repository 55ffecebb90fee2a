"""Every listener, registered on one app. One module per kind, as in Bolt's starter template."""

from __future__ import annotations

from slack_bolt import App

from ..runtime import Runtime
from . import actions, commands, events


def register_listeners(app: App, runtime: Runtime) -> None:
    commands.register(app, runtime)
    actions.register(app, runtime)
    events.register(app, runtime)
