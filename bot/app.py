"""The Bolt app: a Web API client that retries, the listeners, and the error handler."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from .errors import handle_error
from .listeners import register_listeners
from .runtime import Runtime

log = logging.getLogger(__name__)


def web_client(token: str, base_url: str) -> WebClient:
    """A WebClient that honours Retry-After on 429 and retries 5xx and connection errors."""
    return WebClient(
        token=token,
        base_url=base_url,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_app(runtime: Runtime) -> App:
    """The app with every listener registered (``auth.test`` is called once, here)."""
    settings = runtime.settings
    app = App(
        client=web_client(settings.bot_token, settings.api_url),
        signing_secret=settings.signing_secret or None,
        request_verification_enabled=bool(settings.signing_secret),
        # Listeners ack first and work after the HTTP response is sent (Slack's 3 s deadline).
        process_before_response=False,
        logger=logging.getLogger("bot"),
    )
    app.error(handle_error)
    register_listeners(app, runtime)
    return app
