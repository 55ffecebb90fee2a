"""``expansion serve``: the bot over HTTP (waitress, a production WSGI server) or Socket Mode.

HTTP serves ``POST /slack/events`` (commands, interactivity and events on one URL) and
``GET /healthz``; Socket Mode needs no public URL and still serves ``/healthz`` on ``PORT`` for
container health checks.
"""

from __future__ import annotations

import atexit
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterable

import sqlalchemy as sa
import waitress
from slack_bolt.adapter.wsgi import SlackRequestHandler

from expansion import database

from .app import build_app
from .security import guard
from .settings import Settings
from .startup import configure_logging, runtime_for, start_background
from .workers import AnswerWorkers

log = logging.getLogger("bot.server")
EVENTS_PATH = "/slack/events"


def healthz(engine: sa.Engine, workers: AnswerWorkers | None = None) -> tuple[int, dict]:
    """200 when the database answers and an answer worker is ready, else 503 with the reason."""
    try:
        database.ping(engine)
    except Exception as exc:  # any failure means unhealthy
        return 503, {"ok": False, "database": "unreachable", "error": type(exc).__name__}
    if workers is None:
        return 200, {"ok": True, "database": "ok"}
    health = workers.health()
    ok = health["ready"] > 0
    return (200 if ok else 503), {"ok": ok, "database": "ok", "workers": health}


def wsgi_app(
    engine: sa.Engine, slack: Callable | None, workers: AnswerWorkers | None = None
) -> Callable:
    """Route ``/healthz`` here and everything else to Bolt (when ``slack`` is given)."""

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            status, body = healthz(engine, workers)
            payload = json.dumps(body).encode()
            reason = "OK" if status == 200 else "Service Unavailable"
            start_response(
                f"{status} {reason}",
                [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        if slack is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not Found"]
        return slack(environ, start_response)

    return application


def serve(settings: Settings) -> None:
    """Run until stopped: Socket Mode when ``SLACK_APP_TOKEN`` is set, else HTTP on ``PORT``.

    With ``EXPANSION_WORKERS`` >= 1 (the default) this process only verifies and acks; the
    answers, the warm-up and the digest scheduler run in the worker processes (bot.workers).
    """
    configure_logging()
    runtime = runtime_for(settings)
    engine = runtime.engine
    workers = AnswerWorkers(settings, settings.workers) if settings.workers else None
    app = build_app(runtime, lazy_runner=workers)
    if workers is not None:
        workers.launch()
        # `docker stop` and the test harness send SIGTERM: stop the workers with the server.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        atexit.register(workers.stop)
        log.info("%s answer worker(s) (EXPANSION_WORKERS)", settings.workers)
    else:
        start_background(runtime)
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        health = waitress.create_server(
            wsgi_app(engine, None, workers), host=settings.host, port=settings.port, threads=2
        )
        threading.Thread(target=health.run, name="healthz", daemon=True).start()
        log.info("Socket Mode; /healthz on port %s", settings.port)
        SocketModeHandler(app, settings.app_token).start()
        return
    # Size, signature and shape are checked before Bolt reads the request (bot.security).
    handler = guard(
        SlackRequestHandler(app, path=EVENTS_PATH),
        signing_secret=settings.signing_secret,
        path=EVENTS_PATH,
        max_bytes=settings.max_request_bytes,
    )
    log.info("HTTP on %s:%s%s", settings.host, settings.port, EVENTS_PATH)
    waitress.serve(
        wsgi_app(engine, handler, workers),
        host=settings.host,
        port=settings.port,
        threads=settings.threads,
        ident="expansion",
        # waitress buffers a body before the app sees it: refuse a larger one while reading
        # (413), so an oversized POST never fills memory or disk. It refuses at >= this value.
        max_request_body_size=settings.max_request_bytes + 1,
    )
