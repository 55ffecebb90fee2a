"""What every listener needs: the database, the settings, and the engine's answers for a scope."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from slack_bolt.middleware import Middleware
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from expansion import crm, pipeline, store
from expansion.connectors import SourceConfig, for_team
from expansion.errors import ConfigError, ExpansionError
from expansion.pipeline import FindResult
from expansion.scope import Scope

from .channels import ChannelDirectory
from .permissions import OwnerDirectory
from .settings import Settings

log = logging.getLogger(__name__)

#: The context key of the request's runtime: listeners read ``context["runtime"]``.
RUNTIME = "runtime"


class WorkspaceUnknownError(ExpansionError):
    """A request reached a listener without a workspace (multi-workspace mode)."""


@dataclass
class Runtime:
    """Shared by all listeners of one app: one workspace's database and the settings.

    With a multi-workspace install the app's runtime is the root (the main database: OAuth
    installations, scheduler leadership) and :meth:`for_team` gives each workspace its own
    runtime on its own partition, so no query can see another workspace's data.
    """

    engine: sa.Engine
    settings: Settings
    directory: OwnerDirectory = field(default_factory=OwnerDirectory)
    # Which channels are shared with other organisations (conversations.info, cached).
    channels: ChannelDirectory = field(default_factory=ChannelDirectory)
    # Set by the in-process scheduler: re-read the subscriptions now (other processes poll).
    subscriptions_changed: Callable[[], None] | None = None
    team_id: str | None = None
    root: Runtime | None = field(default=None, repr=False)
    _teams: dict[str, Runtime] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def for_team(self, team_id: str | None) -> Runtime:
        """The runtime of workspace ``team_id`` (this one when the bot serves one workspace)."""
        root = self.root or self
        if not root.settings.multi_workspace or not team_id:
            return root
        with root._lock:
            runtime = root._teams.get(team_id)
            if runtime is None:
                engine = store.connect(root.settings.db_url, team=team_id)
                runtime = Runtime(engine=engine, settings=root.settings, team_id=team_id, root=root)
                root._teams[team_id] = runtime
        return runtime

    def for_request(self, context: Mapping) -> Runtime:
        """The runtime of the workspace a listener's request comes from.

        One workspace: this one. Several: the workspace :mod:`bot.workspaces` named in the
        request's context, never the main database.

        Raises:
            WorkspaceUnknownError: the request's workspace was not named (no check ran).
        """
        root = self.root or self
        if not root.settings.multi_workspace:
            return root
        from .workspaces import REFUSAL, WORKSPACE

        workspace = context.get(WORKSPACE)
        if not workspace:
            raise WorkspaceUnknownError(REFUSAL)
        return root.for_team(workspace)

    def __deepcopy__(self, memo: dict) -> Runtime:
        # Bolt deep-copies a request's context for its lazy listeners: the copy must share this
        # runtime (its database connections, caches and locks), not clone it.
        return self

    def notify_subscriptions_changed(self) -> None:
        hook = (self.root or self).subscriptions_changed
        if hook is not None:
            try:
                hook()
            except Exception:  # the periodic re-read catches up
                log.warning("could not reschedule digests now", exc_info=True)

    def dispose(self) -> None:
        """Close every workspace's connections and this one's."""
        for runtime in self._teams.values():
            runtime.engine.dispose()
        self.engine.dispose()

    def find(self, scope: str | Scope = "", **kwargs) -> FindResult:
        """The engine's answer for ``scope`` at the configured as-of date."""
        return pipeline.find(
            self.engine,
            scope,
            as_of=self.settings.as_of(),
            config=self.settings.scoring,
            **kwargs,
        )

    def account(self, account_id: str) -> FindResult:
        """One account, by id (names could read as scope words)."""
        return self.find(Scope(text=account_id, account_ids=(account_id,)))

    def opportunity(self, opportunity_id: str, client=None) -> dict | None:
        """One opportunity of the latest scoring, whatever its outcome, as a card record
        (:meth:`card_records`)."""
        result = self.find("", opportunity_ids=[opportunity_id], include_closed=True)
        records = self.card_records(result, [opportunity_id], client)
        return records[0] if records else None

    def card_records(self, result: FindResult, opportunity_ids, client=None) -> list[dict]:
        """Opportunity records as a card shows them: the engine's record, the account's renewal
        date, and the owner's Slack id (resolved through :attr:`directory` when a ``client`` is
        given; the e-mail is shown otherwise)."""
        records = result.opportunity_records(opportunity_ids)
        if records:
            profiles = result.profiles
            renewal = dict(zip(profiles["account_id"], profiles["renewal_date"], strict=True))
            for record in records:
                when = renewal.get(record["account_id"])
                record["renewal_date"] = None if when is None or when != when else str(when)[:10]
        self.crm_fields(records)
        return self.directory.resolve(client, records)

    def crm_target(self) -> tuple[crm.CrmSettings, SourceConfig] | None:
        """The ``[crm]`` settings and the CRM source of this workspace that opportunities are
        written to, or ``None`` when write-back is off (no ``[crm]``, or no CRM source here).

        Raises:
            ConfigError: ``[crm]`` names no usable source (``/expansion crm`` says which).
        """
        settings = self.settings.crm
        if settings is None:
            return None
        sources = for_team(list(self.settings.sources), self.team_id)
        return settings, crm.crm_source(settings, sources)

    def crm_fields(self, records: list[dict]) -> list[dict]:
        """Each card record's CRM state, when write-back is on: ``crm`` (the CRM's name, which
        puts *Create in HubSpot* on the card), ``crm_url`` and ``crm_status`` of its record."""
        try:
            target = self.crm_target()
        except ConfigError:
            target = None  # said by /expansion crm; the cards go without the button
        if target is None or not records:
            return records
        name = crm.display_name(target[1].type)
        found = crm.records(self.engine, opportunity_ids=[r["opportunity_id"] for r in records])
        by_id = {row.opportunity_id: row for row in found.itertuples()}
        for record in records:
            row = by_id.get(record["opportunity_id"])
            record["crm"] = name
            record["crm_status"] = row.status if row is not None else None
            record["crm_url"] = row.url if row is not None and isinstance(row.url, str) else None
        return records

    def warm_up(self) -> None:
        """Score now and decode the run, so the first command answers from memory."""
        try:
            pipeline.score_and_load(
                self.engine, as_of=self.settings.as_of(), config=self.settings.scoring
            )
        except Exception:  # an empty database is fine at start-up; commands explain it
            log.warning("warm-up scoring skipped", exc_info=True)


class RequestRuntime(Middleware):
    """Bolt global middleware, after the workspace and guest checks (:mod:`bot.workspaces`):
    ``context["runtime"]`` is the runtime of the request's workspace (:meth:`Runtime.for_request`),
    the one every listener reads.

    ``acks_only``: the app only acks and its listeners' work runs in other processes (the HTTP
    process of ``expansion serve`` with answer workers, :mod:`bot.workers`), which name the
    runtime themselves; naming it here could create a new workspace's partition before the ack.

    A runtime that cannot be named (no workspace, the database down) is left unset: the
    listener names it again (:func:`bot.errors.guarded`), so the failure is told like any other.
    """

    def __init__(self, runtime: Runtime, *, acks_only: bool = False) -> None:
        self.runtime = runtime
        self.acks_only = acks_only

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        if not self.acks_only:
            try:
                req.context[RUNTIME] = self.runtime.for_request(req.context)
            except Exception:
                log.debug("no runtime for this request; its listener will say why", exc_info=True)
        return next()
