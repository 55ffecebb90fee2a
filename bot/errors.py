"""What the user sees when something fails: the engine's own message, or a reference to the log.

Errors the engine raises on purpose (:class:`expansion.errors.ExpansionError`: no data yet, an
unknown scope, a stale card) are written for the user and shown as they are. Anything else is a
bug or an outage: the user gets "something went wrong (ref XXXXXX)" and the log gets the stack
trace with the same reference, so support can find it.
"""

from __future__ import annotations

import inspect
import logging
import secrets
from collections.abc import Callable

from slack_sdk import WebClient

from expansion.errors import ExpansionError

from . import blocks, deliveries
from .replies import tell
from .runtime import RUNTIME, Runtime
from .security import VERIFIED


def new_ref() -> str:
    return secrets.token_hex(3).upper()


def handle_error(
    error: Exception, body: dict, client: WebClient, respond, logger: logging.Logger, context
) -> None:
    """Bolt's global error handler.

    Only a request :mod:`bot.security` verified is answered: the body of any other one (an
    error while checking it) is nobody's to trust, so the error goes to the log alone.
    """
    if not (context or {}).get(VERIFIED):
        logger.warning(
            "error before the request was verified (%s); nothing was answered",
            type(error).__name__,
        )
        return
    if isinstance(error, ExpansionError):
        message = blocks.escape(str(error))
        logger.info("user-facing error: %s", error)
    else:
        ref = new_ref()
        logger.error("listener failed (ref %s)", ref, exc_info=error)
        message = (
            f":warning: Something went wrong (ref {ref}). Nothing else was changed; "
            "try again, and if it keeps happening give this reference to your admin."
        )
    if body.get("type") == "event_callback":
        return  # no one to answer
    try:
        tell(body, client, respond, message)
    except Exception:
        logger.exception("could not show the error to the user")


def ack_now(ack) -> None:
    """The first half of every listener: acknowledge at once, before any work (Slack's 3 s)."""
    ack()


def lazy_listener(register: Callable, func: Callable, runtime: Runtime) -> Callable:
    """Register ``func`` as an immediate ack plus the work, run lazily (Bolt's lazy listeners).

    ``register`` is what ``app.command(...)``, ``app.action(...)`` or ``app.event(...)`` returns;
    ``func`` a module-level listener of :mod:`bot.listeners`, which reads the request's runtime
    from ``context["runtime"]`` (:class:`bot.runtime.RequestRuntime`). The HTTP answer to Slack
    is the ack alone; the work runs after it, on the app's lazy listener runner: a worker
    process (:mod:`bot.workers`) or, with ``EXPANSION_WORKERS=0``, a thread of this process.
    The work is :func:`guarded`. Returns ``func``.
    """
    register(ack=ack_now, lazy=[guarded(func, runtime)])
    return func


def guarded(func: Callable, runtime: Runtime) -> Callable:
    """A listener that runs once per request, whose failures are shown and logged here.

    A request delivered again (a Slack retry, a replay) was claimed by its first delivery
    (:mod:`bot.deliveries`, in the main database of ``runtime``) and does nothing. The listener
    has been acked already (:func:`lazy_listener`), so a failure can only be told to the user:
    the engine's message, or a reference to the log.

    ``context["runtime"]`` is set by the app's middleware (:class:`bot.runtime.RequestRuntime`);
    when it could not be (no workspace, the database down) it is named here again, so the
    failure is told as the listener's own.
    """
    wanted = inspect.getfullargspec(func).args
    engine = (runtime.root or runtime).engine

    def listener(body, client, respond, logger, payload, context, request):
        available = {
            "body": body,
            "client": client,
            "respond": respond,
            "logger": logger,
            "context": context,
            "action": payload,
            "command": payload,
            "event": payload,
        }
        try:
            if not deliveries.first_delivery(engine, body, request.headers):
                return
            if RUNTIME not in context:
                context[RUNTIME] = runtime.for_request(context)
            func(**{name: available[name] for name in wanted})
        except Exception as exc:
            handle_error(exc, body, client, respond, logger, context)

    # Bolt finds a lazy function by its name (in a worker process, too).
    listener.__name__ = func.__name__
    listener.__qualname__ = func.__name__
    listener.__doc__ = func.__doc__
    return listener
