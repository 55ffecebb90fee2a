"""Write-back to the CRM from Slack: a card's *Create in HubSpot* (or Salesforce), the same on
assignment with ``[crm] create_on_assign = true``, and ``/expansion crm`` (admins).

The write itself is :func:`expansion.crm.write_opportunity`: idempotent (a second click, a retry
or another replica gets the record the first one made), nothing kept locally when the CRM
refuses. What went wrong is said to the person who clicked in one line that names the fix.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd
from slack_sdk import WebClient

from expansion import crm
from expansion.errors import (
    ConfigError,
    CrmBusyError,
    CrmConfigError,
    CrmError,
    CrmScopeError,
    CrmUnavailableError,
)

from . import blocks
from .replies import actor, send
from .runtime import Runtime

#: How long a click waits for another click's write of the same opportunity to finish.
BUSY_WAIT = 20.0
#: Failed writes /expansion crm lists.
LAST_ERRORS = 5


def owner_email(runtime: Runtime, client: WebClient, opp: dict) -> str | None:
    """Whose CRM user owns the new record: the assignee's (their Slack e-mail), else the
    account owner's (the CRM e-mail the account came with), else nobody."""
    assignee = opp.get("assignee")
    if isinstance(assignee, str) and assignee:
        email = runtime.directory.email_of(client, assignee)
        if email:
            return email
    owner = opp.get("owner")
    return owner if isinstance(owner, str) and "@" in owner else None


def write(runtime: Runtime, client: WebClient, opp: dict) -> str:
    """Create ``opp`` (a card record) in the workspace's CRM; returns the one line to tell the
    person who acted ('' when the card itself says it all: the record is there).

    A second click while the first is writing waits for it (up to :data:`BUSY_WAIT` seconds)
    and gets the same record.
    """
    try:
        target = runtime.crm_target()
    except ConfigError as exc:
        return f":warning: Nothing was created in the CRM: {blocks.escape(exc)}"
    if target is None:
        return (
            "No CRM to write to: add `[crm]` and a HubSpot or Salesforce source to expansion.toml "
            "and restart the bot."
        )
    settings, source = target
    name = crm.display_name(source.type)
    what = f"*{blocks.escape(opp['account_name'])}*"
    try:
        result = _write_waiting(runtime, opp, owner_email(runtime, client, opp), settings, source)
    except CrmScopeError as exc:
        return f":no_entry: Not created in {name} ({what}), it refused the write: {_line(exc)}"
    except CrmConfigError as exc:  # the message names the [crm] key or the field to create
        return f":warning: Not created in {name} ({what}): {_line(exc)}"
    except CrmUnavailableError as exc:
        return (
            f":warning: Not created in {name} ({what}), nothing was written: {_line(exc)} "
            f"*Retry in {name}* on the card tries again."
        )
    except CrmError as exc:
        return f":warning: Not created in {name} ({what}): {_line(exc)}"
    if result.unowned and result.message:
        return f":information_source: Created in {name} without an owner: {_line(result.message)}"
    if not result.url:
        return (
            f":white_check_mark: {what} is in {name} (record {blocks.escape(result.crm_id)}). "
            "Set `[crm] portal_id` for an *Open in HubSpot* link on the card."
        )
    return ""


def _line(text: object) -> str:
    """An error message as one escaped line."""
    return blocks.escape(" ".join(str(text).split()))


def _write_waiting(
    runtime: Runtime, opp: dict, email: str | None, settings, source
) -> crm.WriteResult:
    def attempt() -> crm.WriteResult:
        return crm.write_opportunity(
            runtime.engine, opp, assignee_email=email, settings=settings, source=source
        )

    try:
        return attempt()
    except CrmBusyError:
        pass
    # Another click is writing it: wait for that write and answer with its outcome.
    deadline = time.monotonic() + BUSY_WAIT
    while time.monotonic() < deadline:
        time.sleep(0.25)
        stored = crm.record(runtime.engine, str(opp["opportunity_id"]))
        if stored is None or stored.status == "claimed":
            continue
        if stored.status == "failed":
            raise CrmError(stored.error or "the other click's write failed")
        return attempt()  # written: the record the other click made
    return attempt()  # still claimed: CrmBusyError says so (or the claim has expired)


def create_on_assign(runtime: Runtime) -> bool:
    """Whether an assignment creates the CRM record too (``[crm] create_on_assign = true``)."""
    return bool(runtime.settings.crm and runtime.settings.crm.create_on_assign)


def written(runtime: Runtime, opportunity_id: str) -> bool:
    stored = crm.record(runtime.engine, opportunity_id)
    return stored is not None and stored.status == "written"


# --------------------------------------------------------------------------- /expansion crm


def handle(runtime: Runtime, command: dict, respond: Callable) -> None:
    """``/expansion crm``: the write-back settings and how it went, to the admin only."""

    def say(text: str) -> None:
        send(respond, **blocks.notice(text), response_type="ephemeral", replace_original=False)

    if actor(command) not in runtime.settings.admins:
        say(
            "Only an admin of this bot can see the CRM write-back settings. "
            "Ask the person who installed it."
        )
        return
    say(status(runtime))


def status(runtime: Runtime) -> str:
    """Which CRM, its pipeline and stage mapping, create on assign, the records written and the
    last write-back errors."""
    settings = runtime.settings.crm
    if settings is None:
        return (
            "*CRM write-back is off*: add a `[crm]` table to expansion.toml (EXPANSION_CONFIG) "
            "with a HubSpot or Salesforce source under `[[sources]]`, run `expansion crm setup` "
            "on the server and restart the bot. The README's *Writing back to your CRM* says how."
        )
    try:
        target = runtime.crm_target()
    except ConfigError as exc:
        return f":warning: *CRM write-back is not working*: {blocks.escape(exc)}"
    assert target is not None
    _, source = target
    name = crm.display_name(source.type)
    stages = settings.stages
    if source.type == "hubspot":
        mapping = (
            f"pipeline `{blocks.escape(settings.pipeline)}`, new deals in "
            f"`{blocks.escape(stages['open'])}`, won = {_codes(stages['won'])}, "
            f"lost = {_codes(stages['lost'])}"
            + (
                f", portal {blocks.escape(settings.portal_id)}"
                if settings.portal_id
                else ", no `portal_id` (cards cannot link to the deals)"
            )
        )
    else:
        mapping = (
            f"new Opportunities in stage `{blocks.escape(settings.salesforce_stage)}`, type "
            f"`{blocks.escape(settings.salesforce_type)}`, id field "
            f"`{blocks.escape(settings.salesforce_id_field)}`; won and lost from IsWon / IsClosed"
        )
    lines = [
        f"*CRM write-back: {name}* (source `{blocks.escape(source.name)}`)",
        f"• {mapping}",
        f"• create on assign: {'yes' if settings.create_on_assign else 'no'}",
    ]
    table = crm.records(runtime.engine, source=source.name)
    ok = table[table["status"] == "written"]
    failed = table[table["status"] == "failed"]
    lines.append(
        f"• {len(ok)} records ({int((ok['origin'] == 'matched').sum())} hand-made deals matched, "
        f"{int(ok['unowned'].astype(bool).sum())} without an owner), "
        f"{len(failed)} failed"
    )
    if len(failed):
        lines.append("*Last write-back errors*")
        for row in failed.head(LAST_ERRORS).itertuples():
            at = pd.Timestamp(row.error_at) if row.error_at is not None else None
            when = f"{at:%Y-%m-%d %H:%M} UTC" if at is not None and not pd.isna(at) else ""
            lines.append(
                f"• `{blocks.escape(row.opportunity_id)}` {when}: "
                f"{blocks.clip(_line(row.error or ''), 300)}"
            )
    else:
        lines.append("No write-back errors.")
    return blocks.clip("\n".join(lines), 2900)


def _codes(values: list[str]) -> str:
    return ", ".join(f"`{blocks.escape(v)}`" for v in values)
