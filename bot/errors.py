"""What the user sees when something fails: the engine's own message, or a reference to the log.

Errors the engine raises on purpose (:class:`expansion.errors.ExpansionError`: no data yet, an
unknown scope, a stale card) are written for the user and shown as they are. Anything else is a
bug or an outage: the user gets "something went wrong (ref XXXXXX)" and the log gets the stack
trace with the same reference, so support can find it.
"""

from __future__ import annotations

import logging
import secrets

from slack_sdk import WebClient

from expansion.errors import ExpansionError

from . import blocks
from .replies import tell


def new_ref() -> str:
    return secrets.token_hex(3).upper()


def handle_error(
    error: Exception, body: dict, client: WebClient, respond, logger: logging.Logger
) -> None:
    """Bolt's global error handler."""
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
