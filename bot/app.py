"""The Bolt app: a Web API client that retries, the listeners, and the error handler."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.lazy_listener import LazyListenerRunner
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

from .errors import handle_error
from .listeners import register_listeners
from .runtime import RequestRuntime, Runtime
from .security import RequestCheck
from .settings import BOT_SCOPES
from .workspaces import GuestCheck, WorkspaceCheck

log = logging.getLogger(__name__)


def web_client(token: str | None, base_url: str) -> WebClient:
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


def installation_store(runtime: Runtime) -> SQLAlchemyInstallationStore:
    """The OAuth installations of a multi-workspace app, in the main database."""
    return SQLAlchemyInstallationStore(
        client_id=runtime.settings.client_id, engine=(runtime.root or runtime).engine
    )


def oauth_settings(runtime: Runtime, installations: SQLAlchemyInstallationStore) -> OAuthSettings:
    """``/slack/install`` and ``/slack/oauth_redirect`` with stores in the main database."""
    settings = runtime.settings
    return OAuthSettings(
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scopes=list(BOT_SCOPES),
        redirect_uri=settings.redirect_uri,
        installation_store=installations,
        installation_store_bot_only=True,
        state_store=SQLAlchemyOAuthStateStore(
            expiration_seconds=600, engine=(runtime.root or runtime).engine
        ),
    )


def build_app(
    runtime: Runtime,
    *,
    lazy_runner: LazyListenerRunner | None = None,
    verify_requests: bool = True,
) -> App:
    """The app with every listener registered.

    Every listener acks at once and does its work lazily (:func:`bot.errors.lazy_listener`), on
    ``lazy_runner`` (the answer workers of :mod:`bot.workers`) or, without one, in a thread of
    this process. ``verify_requests=False`` is for a worker, which receives requests the HTTP
    process verified already.

    One workspace: the bot token from the settings (``auth.test`` is called once, here). Several
    (``SLACK_CLIENT_ID``): the OAuth install flow, and each request's token looked up in the
    installation store by its team (cached).
    """
    settings = runtime.settings
    kwargs: dict = {}
    if settings.multi_workspace:
        installations = installation_store(runtime)
        client = web_client(None, settings.api_url)
        kwargs = {
            "oauth_settings": oauth_settings(runtime, installations),
            "authorize": InstallationStoreAuthorize(
                installation_store=installations,
                client_id=settings.client_id,
                client_secret=settings.client_secret,
                bot_only=True,
                cache_enabled=True,
                client=client,
                logger=logging.getLogger("bot.authorize"),
            ),
        }
    else:
        client = web_client(settings.bot_token, settings.api_url)
    verify = verify_requests and bool(settings.signing_secret)
    app = App(
        client=client,
        signing_secret=settings.signing_secret or None,
        # Bolt's own check raises on a malformed timestamp (and the error handler then saw the
        # unverified body) and logs bad requests whole: bot.security checks instead, here and
        # before Bolt in the HTTP server.
        request_verification_enabled=False,
        before_authorize=RequestCheck(
            settings.signing_secret if verify else None, settings.response_url_hosts
        ),
        # The ack function runs in the request's thread and is the HTTP response; the work is
        # a lazy function, started before the response is sent and run elsewhere.
        process_before_response=True,
        # In-process lazy work runs here; Bolt's default pool of 5 made the 6th of 20
        # simultaneous commands wait for the first five's answers.
        listener_executor=ThreadPoolExecutor(
            max_workers=settings.listener_threads, thread_name_prefix="listener"
        ),
        logger=logging.getLogger("bot"),
        **kwargs,
    )
    if lazy_runner is not None:
        # As Bolt's AWS Lambda adapter does: the lazy work leaves this process.
        app.listener_runner.lazy_listener_runner = lazy_runner
    if settings.multi_workspace:
        # After Bolt's authorization: the request's workspace, or a refusal (bot.workspaces).
        app.use(WorkspaceCheck())
    # A guest of a Slack Connect channel (another organisation) gets nothing built for them.
    app.use(GuestCheck())
    # Then the request's runtime, which every listener reads as context["runtime"]; not in an
    # HTTP process whose listeners' work runs in the answer workers (they name it there).
    app.use(RequestRuntime(runtime, acks_only=lazy_runner is not None))
    app.error(handle_error)
    register_listeners(app, runtime)
    return app
