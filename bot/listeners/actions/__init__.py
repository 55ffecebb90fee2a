from __future__ import annotations

from slack_bolt import App

from ...runtime import Runtime
from . import alerts, cards, lists


def register(app: App, runtime: Runtime) -> None:
    cards.register(app, runtime)
    lists.register(app, runtime)
    alerts.register(app, runtime)
