"""Who may act on an opportunity: admins, the account's owner, and (for outcomes) its assignee.

The account owner comes from the CRM as an email; :class:`OwnerDirectory` maps it to a Slack user
with ``users.lookupByEmail`` and caches the answer, misses included, so a busy channel does not
spend the method's rate limit.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

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

    def resolve(self, client: WebClient | None, records: list[dict]) -> list[dict]:
        """Each record's ``owner_user``: its owner's Slack id, or ``None`` (no such user, or
        Slack would not say: a card then shows the e-mail). One lookup per distinct owner."""
        found: dict[str, str | None] = {}
        for record in records:
            email = record.get("owner")
            if not isinstance(email, str) or client is None:
                record["owner_user"] = None
                continue
            if email not in found:
                try:
                    found[email] = self.user_id(client, email)
                except SlackApiError as exc:  # missing scope, a Slack outage: show the e-mail
                    log.warning("owner lookup failed: %s", exc.response.get("error"))
                    found[email] = None
            record["owner_user"] = found[email]
        return records

    def email_of(self, client: WebClient, user_id: str) -> str | None:
        """The e-mail of Slack user ``user_id`` (``users.info``), cached like the lookups."""
        key = f"user:{user_id}"
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached and cached[1] > now:
            return cached[0]
        try:
            email = client.users_info(user=user_id)["user"].get("profile", {}).get("email")
        except SlackApiError as exc:
            log.warning("users.info failed: %s", exc.response.get("error"))
            email = None
        with self._lock:
            self._cache[key] = (email, now + (HIT_TTL if email else MISS_TTL))
        return email


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
