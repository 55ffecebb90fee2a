"""Who may act on an opportunity: admins, the account's owner, and (for outcomes) its assignee.

The account owner comes from the CRM as an email; :class:`OwnerDirectory` maps it to a Slack user
with ``users.lookupByEmail`` and caches the answer, misses included, so a busy channel does not
spend the method's rate limit.
"""

from __future__ import annotations

import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

HIT_TTL = 3600.0
MISS_TTL = 600.0


class OwnerDirectory:
    """Email -> Slack user id, cached for an hour (ten minutes for unknown emails)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    def user_id(self, client: WebClient, email: str | None) -> str | None:
        """The Slack user with this email, or ``None`` (not an email, or nobody has it)."""
        if not email or "@" not in str(email):
            return None
        key = str(email).strip().lower()
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached and cached[1] > now:
            return cached[0]
        try:
            found = client.users_lookupByEmail(email=key)["user"]["id"]
        except SlackApiError as exc:
            if exc.response.get("error") != "users_not_found":
                raise
            found = None
        with self._lock:
            self._cache[key] = (found, now + (HIT_TTL if found else MISS_TTL))
        return found


def may_assign(actor: str, *, admins: frozenset[str], owner_user: str | None) -> bool:
    """Admins and the account's current owner may assign."""
    return actor in admins or (owner_user is not None and actor == owner_user)


def may_close(
    actor: str, *, admins: frozenset[str], owner_user: str | None, assignee: str | None
) -> bool:
    """Outcomes (snooze, not a fit, won, lost): those who may assign, and the assignee."""
    return may_assign(actor, admins=admins, owner_user=owner_user) or (
        assignee is not None and actor == assignee
    )
