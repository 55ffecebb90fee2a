"""One scheduler process's nightly alert pass, for the concurrency tests.

    python alerts_worker.py        (EXPANSION_DB_URL, SLACK_BOT_TOKEN, SLACK_API_URL, ...)

Prints ``ready`` once everything is imported and connected, waits for a line on stdin (so two
workers can be released at once), runs the pass with the real scheduler code and prints its
report as JSON on its last line.
"""

from __future__ import annotations

import json
import sys

from bot.app import web_client
from bot.runtime import Runtime
from bot.scheduler import DigestScheduler
from bot.settings import Settings
from expansion import store


def main() -> None:
    settings = Settings.from_env(http=False)
    runtime = Runtime(engine=store.connect(settings.db_url), settings=settings)
    scheduler = DigestScheduler(runtime, web_client(settings.bot_token, settings.api_url))
    print("ready", flush=True)
    if not sys.stdin.readline():
        raise SystemExit("stdin closed before the go")
    report = scheduler.alert(None, runtime)
    runtime.engine.dispose()
    print(
        json.dumps(
            {"dms": report.dms if report else -1, "changes": report.changes if report else -1}
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
