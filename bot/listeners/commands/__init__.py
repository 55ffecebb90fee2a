from __future__ import annotations

from slack_bolt import App

from ...errors import lazy_listener
from ...runtime import Runtime
from .expansion import expansion
from .find_opportunities import find_opportunities


def register(app: App, runtime: Runtime) -> None:
    lazy_listener(app.command("/find-expansion-opportunities"), find_opportunities, runtime)
    lazy_listener(app.command("/expansion"), expansion, runtime)
