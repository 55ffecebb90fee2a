"""The ``expansion`` command: the engine's commands plus ``serve`` for the Slack bot.

The engine's CLI (:mod:`expansion.cli`) knows nothing of Slack; this module adds the commands
that need it, so ``expansion/`` stays free of Slack imports.
"""

from __future__ import annotations

import sys

from expansion.cli import app
from expansion.cli import main as _main
from expansion.errors import ConfigError


@app.command()
def serve() -> None:
    """Run the Slack bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on $PORT (3000)."""
    from .server import serve as run
    from .settings import Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    run(settings)


def main() -> None:
    """Console-script entry point."""
    _main()
