"""The answer to ``/find-expansion-opportunities``: a scope picker, a list page, or a deep-dive."""

from __future__ import annotations

import re

import pandas as pd

from expansion.errors import ScopeError
from expansion.playbook import account_context

from . import blocks, sources
from .blocks import ListRef
from .runtime import Runtime

MAX_ACCOUNT_DIVES = 3
# A response_url takes 5 posts; keep one for the buttons' answers.
MAX_MESSAGES = 4


def parse_command(text: str) -> ListRef:
    """Command text -> the list it asks for; the word ``public`` posts it in the channel."""
    words = (text or "").split()
    public = any(w.lower() == "public" for w in words)
    scope = " ".join(w for w in words if w.lower() != "public")
    return ListRef(scope=scope, page=1, public=public)


def answer(runtime: Runtime, ref: ListRef, *, ephemeral: bool, client=None) -> list[dict]:
    """The messages that answer ``ref``: picker, one list page, or an account's deep-dive.

    With a ``client``, owners are @mentioned (their CRM e-mail looked up in Slack, cached)."""
    if not re.search(r"\w", ref.scope):
        return [blocks.scope_picker()]
    try:
        result = runtime.find(ref.scope)
    except ScopeError as exc:
        return [blocks.scope_picker(str(exc))]
    scope = result.scope
    if scope.account_query and scope.account_ids:
        messages = []
        for account_id in scope.account_ids[:MAX_ACCOUNT_DIVES]:
            messages += blocks.deep_dive_messages(account_context(result, account_id))
        if len(messages) > MAX_MESSAGES:
            cut = blocks.notice(
                f"That is {len(messages) - MAX_MESSAGES + 1} more messages than fit here: use "
                "`expansion account` on the command line for the whole analysis, or narrow the name."
            )
            messages = [*messages[: MAX_MESSAGES - 1], cut]
        return messages
    # Only what the page can show is converted: a 100k-account scope has thousands.
    opps = result.opportunities
    high = (opps["priority"] == "high").to_numpy()
    shown = pd.concat(
        [
            opps.loc[high, "opportunity_id"].head(blocks.MAX_LIST_CARDS),
            opps.loc[~high, "opportunity_id"].head(blocks.COMPACT_LIST_LINES),
        ]
    )
    return [
        blocks.list_message(
            title=scope.describe(),
            summary=result.summary,
            sources=sources.synced(runtime),
            as_of=result.as_of.isoformat(),
            opportunities=runtime.card_records(result, shown, client),
            ref=ref,
            ephemeral=ephemeral,
            high_total=int(high.sum()),
            rest_total=int((~high).sum()),
        )
    ]
