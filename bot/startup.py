"""Process start-up, shared by every process the bot runs: ``expansion serve`` (the HTTP or
Socket Mode process), its answer workers (:mod:`bot.workers`) and ``expansion scheduler``.

Each configures logging the same way (every line redacted), and the one process that answers
without workers, or worker 0, warms the scoring up and runs the digest scheduler.
"""

from __future__ import annotations

import logging
import signal
import threading

from expansion import store
from expansion.redact import RedactingFilter

from . import installations
from .runtime import Runtime
from .scheduler import start_for
from .settings import Settings

log = logging.getLogger(__name__)


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Every line written is redacted: a library may log a URL or a request with its token.
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    # Debug logs of HTTP libraries can carry headers; never let them through.
    for name in ("slack_sdk", "urllib3", "websocket"):
        logging.getLogger(name).setLevel(logging.INFO)


def runtime_for(settings: Settings) -> Runtime:
    """The process's runtime: its database (every workspace's partitions) and settings."""
    return Runtime(engine=store.connect(settings.db_url, team=""), settings=settings)


def warm_up(runtime: Runtime) -> None:
    """Score every installed workspace now, so first commands answer from stored results."""
    for team in installations.teams(runtime):
        runtime.for_team(team).warm_up()


def start_background(runtime: Runtime) -> None:
    """The warm-up (in a thread) and, unless ``EXPANSION_SCHEDULER=off``, the digest
    scheduler: run by exactly one answering process."""
    threading.Thread(target=warm_up, args=(runtime,), name="warm-up", daemon=True).start()
    if runtime.settings.scheduler:
        start_for(runtime)
        log.info("digest scheduler started (EXPANSION_SCHEDULER=off to run it elsewhere)")


def run_scheduler(settings: Settings) -> None:
    """``expansion scheduler``: lead when possible, until SIGTERM or Ctrl-C."""
    configure_logging()
    scheduler = start_for(runtime_for(settings))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("scheduler started; waiting for leadership")
    stop.wait()
    scheduler.shutdown()
    log.info("scheduler stopped")
