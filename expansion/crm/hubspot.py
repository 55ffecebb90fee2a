"""HubSpot write-back through the official client: deals in a pipeline, read back by id.

A deal is created in ``[crm] pipeline`` at ``[crm.stages] open``, with ``dealname`` (account -
type), ``amount`` (expansion ARR), ``closedate`` (the opportunity's close-by date), the company
association, ``hubspot_owner_id`` (the owner whose email is the assignee's) and the opportunity id
in the deal property ``[crm] id_property`` (created by ``expansion crm setup``). Before creating,
deals are searched for that id, so a retry after a timeout adopts the deal the first try made.

The private app needs, besides the read scopes of the source: ``crm.objects.deals.write`` (and
``crm.schemas.deals.write`` for ``expansion crm setup`` to create the property).

Rate limits (429) are retried by the client's urllib3 ``Retry``, honouring ``Retry-After``; a
create is not retried on 5xx (it may have happened): the next click searches first.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..connectors.base import SourceConfig
from ..connectors.hubspot import (
    BACKOFF_FACTOR,
    BACKOFF_MAX,
    RETRY_AFTER_MAX,
    HubSpotConnector,
    _parse_date,
    _parse_time,
)
from . import (
    CrmConfigError,
    CrmError,
    CrmScopeError,
    CrmSettings,
    CrmState,
    CrmUnavailableError,
    HandMadeDeal,
    Written,
)
from . import (
    close_date as _close_date,
)

WRITE_SCOPE = "crm.objects.deals.write"
SCHEMA_SCOPE = "crm.schemas.deals.write"
#: HUBSPOT_DEFINED association type of deal -> company (primary company).
DEAL_TO_COMPANY = 5
READ_PROPERTIES = [
    "dealname",
    "dealstage",
    "pipeline",
    "amount",
    "closedate",
    "createdate",
    "hs_lastmodifieddate",
    "hs_updated_by_user_id",
]


class HubSpotWriter:
    """One HubSpot account's deals, for write-back and read-back."""

    def __init__(self, source: SourceConfig, settings: CrmSettings, env: Mapping[str, str] | None):
        import os

        import hubspot
        import urllib3
        from hubspot.crm import companies, deals, owners, pipelines, properties

        self.connector = HubSpotConnector(source, os.environ if env is None else env)
        self.settings = settings
        self.name = source.name
        token = self.connector.secret(
            self.connector.token_env, "the HubSpot private app access token"
        )
        self.urllib3 = urllib3
        self.deals, self.companies, self.properties = deals, companies, properties
        self.errors = tuple(
            m.ApiException for m in (companies, deals, owners, pipelines, properties)
        )
        retry = urllib3.util.retry.Retry(
            total=self.connector.max_retries,
            read=0,  # a write that timed out may have happened: never sent twice
            other=0,
            backoff_factor=BACKOFF_FACTOR,
            status_forcelist=(429,),  # a write refused for the rate limit did not happen
            allowed_methods=None,
            raise_on_status=False,
            respect_retry_after_header=True,
            backoff_max=BACKOFF_MAX,
            retry_after_max=RETRY_AFTER_MAX,
        )
        self.client = hubspot.Client.create(
            access_token=token, retry=retry, host=self.connector.host
        )
        self._stages: tuple[str, str] | None = None

    def close(self) -> None:
        for api in (
            self.client.crm.deals.basic_api,
            self.client.crm.deals.search_api,
            self.client.crm.owners.owners_api,
        ):
            pool = getattr(getattr(api.api_client, "rest_client", None), "pool_manager", None)
            if pool is not None:
                pool.clear()

    # -- calls -------------------------------------------------------------------------------

    def call(self, what: str, method, *args, **kwargs) -> dict:
        try:
            response = method(
                *args, _preload_content=False, _request_timeout=self.connector.timeout, **kwargs
            )
            try:
                body = response.data
            finally:
                response.release_conn()
        except self.errors as exc:
            raise self._refused(exc, what) from exc
        except self.urllib3.exceptions.HTTPError as exc:
            raise CrmUnavailableError(
                f"HubSpot ({self.connector.host}) did not answer while {what}; nothing was "
                "written here: try again in a few minutes (https://status.hubspot.com)."
            ) from exc
        try:
            return json.loads(body or b"{}")
        except ValueError as exc:
            raise CrmUnavailableError(
                f"HubSpot answered garbled JSON while {what}; try again in a few minutes."
            ) from exc

    def _refused(self, exc: Any, what: str) -> CrmError:
        status = int(getattr(exc, "status", 0) or 0)
        try:
            payload = json.loads(getattr(exc, "body", None) or b"")
        except (ValueError, UnicodeDecodeError):
            payload = {}
        payload = payload if isinstance(payload, dict) else {}
        message = str(payload.get("message") or "").strip().rstrip(".")
        env = self.connector.token_env
        if status == 401:
            return CrmScopeError(
                f"HubSpot rejected the token in {env} (401) while {what}: put a valid private "
                "app token there."
            )
        if status == 403:
            needed = []
            for error in payload.get("errors") or []:
                needed += (error.get("context") or {}).get("requiredGranularScopes") or []
            scopes = ", ".join(needed) or WRITE_SCOPE
            return CrmScopeError(
                f"HubSpot refused {what} (403): give the private app the scope {scopes} "
                "(Settings > Integrations > Private Apps > Scopes)."
            )
        if status == 429:
            return CrmUnavailableError(
                f"HubSpot kept rate-limiting while {what} (429, {self.connector.max_retries} "
                "retries); nothing was written here: try again in a minute."
            )
        if status >= 500:
            return CrmUnavailableError(
                f"HubSpot failed while {what} ({status}); nothing was written here: try again "
                "later (https://status.hubspot.com)."
            )
        return CrmError(f"HubSpot refused {what} ({status}: {message or 'no message'}).")

    # -- pipeline and stages -----------------------------------------------------------------

    def pipeline_and_stage(self) -> tuple[str, str]:
        """The ids of ``[crm] pipeline`` and its open stage (ids or labels in the settings)."""
        if self._stages is not None:
            return self._stages
        page = self.call(
            "reading the deal pipelines",
            self.client.crm.pipelines.pipelines_api.get_all,
            "deals",
        )
        pipelines = page.get("results") or []
        wanted = self.settings.pipeline
        pipeline = _by_id_or_label(pipelines, wanted)
        if pipeline is None:
            raise CrmConfigError(
                f"HubSpot has no deal pipeline '{wanted}': set [crm] pipeline in "
                f"expansion.toml to one of {_known(pipelines)}."
            )
        stages = pipeline.get("stages") or []
        stage = self.settings.open_stage
        match = _by_id_or_label(stages, stage)
        if match is None:
            raise CrmConfigError(
                f"HubSpot pipeline '{pipeline.get('label')}' has no stage '{stage}': set "
                f"[crm.stages] open in expansion.toml to one of {_known(stages)}."
            )
        self._stages = (str(pipeline["id"]), str(match["id"]))
        return self._stages

    # -- lookups -----------------------------------------------------------------------------

    def company_ids(self, account_ids: list[str]) -> dict[str, str]:
        """account id -> company id (the company id itself without ``account_id_property``)."""
        prop = self.connector.account_id_property
        if not prop:
            return {a: a for a in account_ids}
        found: dict[str, str] = {}
        models = self.companies
        for start in range(0, len(account_ids), 100):
            chunk = account_ids[start : start + 100]
            after = None
            while True:
                request = models.PublicObjectSearchRequest(
                    filter_groups=[
                        models.FilterGroup(
                            filters=[models.Filter(property_name=prop, operator="IN", values=chunk)]
                        )
                    ],
                    properties=[prop],
                    limit=100,
                    after=after,
                )
                page = self.call(
                    "finding the account's company",
                    self.client.crm.companies.search_api.do_search,
                    public_object_search_request=request,
                )
                for result in page.get("results") or []:
                    value = str((result.get("properties") or {}).get(prop) or "")
                    if value:
                        found.setdefault(value, str(result["id"]))
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
        return found

    def owner_id(self, email: str | None) -> str | None:
        """The id of the active owner with ``email`` (None when nobody has it)."""
        if not email:
            return None
        page = self.call(
            "looking up the deal owner",
            self.client.crm.owners.owners_api.get_page,
            email=email,
            limit=100,
            archived=False,
        )
        for owner in page.get("results") or []:
            if str(owner.get("email") or "").lower() == email.lower():
                return str(owner["id"])
        return None

    def find(self, opportunity_id: str) -> dict | None:
        """The deal holding ``opportunity_id`` in the id property, if one exists."""
        models = self.deals
        request = models.PublicObjectSearchRequest(
            filter_groups=[
                models.FilterGroup(
                    filters=[
                        models.Filter(
                            property_name=self.settings.id_property,
                            operator="EQ",
                            value=opportunity_id,
                        )
                    ]
                )
            ],
            properties=READ_PROPERTIES,
            limit=1,
        )
        page = self.call(
            "searching for the deal",
            self.client.crm.deals.search_api.do_search,
            public_object_search_request=request,
        )
        results = page.get("results") or []
        return results[0] if results else None

    def url(self, deal_id: str) -> str | None:
        portal = self.settings.portal_id
        if not portal:
            return None
        return f"https://app.hubspot.com/contacts/{portal}/record/0-3/{deal_id}"

    # -- write -------------------------------------------------------------------------------

    def create(self, opp: Mapping[str, Any], assignee_email: str | None) -> Written:
        pipeline, stage = self.pipeline_and_stage()
        opportunity_id = str(opp["opportunity_id"])
        owner = self.owner_id(assignee_email)
        close = _close_date(opp)
        existing = self.find(opportunity_id)
        if existing is not None:
            props = existing.get("properties") or {}
            return Written(
                str(existing["id"]),
                self.url(str(existing["id"])),
                owner,
                props.get("dealstage"),
                _parse_date(props.get("closedate")),
            )
        account = str(opp["account_id"])
        company = self.company_ids([account]).get(account)
        if company is None:
            raise CrmError(
                f"HubSpot has no company for account {account} (property "
                f"{self.connector.account_id_property or 'id'}): sync the CRM source, then try again."
            )
        properties = {
            "dealname": f"{opp.get('account_name') or account} - "
            f"{opp.get('type_label') or opp.get('type')}",
            "amount": f"{float(opp['expansion_arr']):.2f}",
            "pipeline": pipeline,
            "dealstage": stage,
            self.settings.id_property: opportunity_id,
        }
        if close is not None:
            properties["closedate"] = f"{close.isoformat()}T00:00:00.000Z"
        if owner is not None:
            properties["hubspot_owner_id"] = owner
        if self.settings.type_property:
            properties[self.settings.type_property] = str(opp.get("type") or "")
        models = self.deals
        request = models.SimplePublicObjectInputForCreate(
            properties=properties,
            associations=[
                models.PublicAssociationsForObject(
                    to=models.PublicObjectId(id=company),
                    types=[
                        models.AssociationSpec(
                            association_category="HUBSPOT_DEFINED",
                            association_type_id=DEAL_TO_COMPANY,
                        )
                    ],
                )
            ],
        )
        created = self.call(
            "creating the deal",
            self.client.crm.deals.basic_api.create,
            simple_public_object_input_for_create=request,
        )
        deal_id = str(created["id"])
        return Written(deal_id, self.url(deal_id), owner, stage, close)

    def update_amount(self, deal_id: str, amount: float) -> None:
        self.call(
            "updating the deal amount",
            self.client.crm.deals.basic_api.update,
            deal_id,
            simple_public_object_input=self.deals.SimplePublicObjectInput(
                properties={"amount": f"{amount:.2f}"}
            ),
        )

    # -- read --------------------------------------------------------------------------------

    def read(self, deal_ids: list[str]) -> dict[str, CrmState]:
        """The stage, amount and close date of each deal (missing deals are left out)."""
        models = self.deals
        reason = self.settings.loss_reason_property
        found: dict[str, CrmState] = {}
        ids = list(dict.fromkeys(str(i) for i in deal_ids))
        for start in range(0, len(ids), 100):
            request = models.BatchReadInputSimplePublicObjectId(
                inputs=[models.SimplePublicObjectId(id=i) for i in ids[start : start + 100]],
                properties=[*READ_PROPERTIES, reason],
                properties_with_history=[],
            )
            page = self.call(
                "reading the deals back",
                self.client.crm.deals.batch_api.read,
                batch_read_input_simple_public_object_id=request,
                archived=False,
            )
            for result in page.get("results") or []:
                props = result.get("properties") or {}
                found[str(result["id"])] = CrmState(
                    crm_id=str(result["id"]),
                    stage=props.get("dealstage"),
                    amount=_number(props.get("amount")),
                    close_date=_parse_date(props.get("closedate")),
                    loss_reason=props.get(reason) or None,
                    # A person's edit: HubSpot names the user; an app's write leaves it empty.
                    edited_by_person=bool(props.get("hs_updated_by_user_id")),
                )
        return found

    def hand_made(self, account_ids: list[str]) -> dict[str, list[HandMadeDeal]]:
        """Deals of the accounts' companies that do not hold an opportunity id, oldest first."""
        companies = self.company_ids(account_ids)
        if not companies:
            return {}
        account_of = {c: a for a, c in companies.items()}
        v4 = __import__("hubspot.crm.associations.v4", fromlist=["v4"])
        links: dict[str, list[str]] = defaultdict(list)
        ids = list(account_of)
        for start in range(0, len(ids), 100):
            pending = [(i, None) for i in ids[start : start + 100]]
            while pending:
                request = v4.BatchInputPublicFetchAssociationsBatchRequest(
                    inputs=[
                        v4.PublicFetchAssociationsBatchRequest(id=i, after=a) for i, a in pending
                    ]
                )
                try:
                    page = self.call(
                        "reading the companies' deals",
                        self.client.crm.associations.v4.batch_api.get_page,
                        "companies",
                        "deals",
                        batch_input_public_fetch_associations_batch_request=request,
                    )
                except CrmError:
                    raise
                pending = []
                for result in page.get("results") or []:
                    source = str(result["from"]["id"])
                    links[source] += [str(t["toObjectId"]) for t in result.get("to") or []]
                    after = ((result.get("paging") or {}).get("next") or {}).get("after")
                    if after:
                        pending.append((source, after))
        deal_ids = sorted({d for ds in links.values() for d in ds})
        if not deal_ids:
            return {}
        wanted = [*READ_PROPERTIES, self.settings.id_property]
        if self.settings.type_property:
            wanted.append(self.settings.type_property)
        deals: dict[str, dict] = {}
        models = self.deals
        for start in range(0, len(deal_ids), 100):
            request = models.BatchReadInputSimplePublicObjectId(
                inputs=[models.SimplePublicObjectId(id=i) for i in deal_ids[start : start + 100]],
                properties=wanted,
                properties_with_history=[],
            )
            page = self.call(
                "reading the companies' deals",
                self.client.crm.deals.batch_api.read,
                batch_read_input_simple_public_object_id=request,
                archived=False,
            )
            deals.update((str(r["id"]), r) for r in page.get("results") or [])
        out: dict[str, list[HandMadeDeal]] = defaultdict(list)
        for company, linked in links.items():
            for deal_id in linked:
                deal = deals.get(deal_id)
                if deal is None:
                    continue
                props = deal.get("properties") or {}
                if props.get(self.settings.id_property):
                    continue  # written by the product
                created = _parse_time(props.get("createdate")) or datetime.now(UTC)
                out[account_of[company]].append(
                    HandMadeDeal(
                        crm_id=deal_id,
                        name=str(props.get("dealname") or ""),
                        type=(props.get(self.settings.type_property) or None)
                        if self.settings.type_property
                        else None,
                        created_at=created,
                        amount=_number(props.get("amount")),
                        url=self.url(deal_id),
                    )
                )
        for deals_of in out.values():
            deals_of.sort(key=lambda d: d.created_at)
        return dict(out)

    # -- setup -------------------------------------------------------------------------------

    def setup(self) -> list[str]:
        said: list[str] = []
        pipeline, stage = self.pipeline_and_stage()
        said.append(f"HubSpot: deals go to pipeline {pipeline}, stage {stage}.")
        name = self.settings.id_property
        try:
            self.call(
                "reading the deal property",
                self.client.crm.properties.core_api.get_by_name,
                "deals",
                name,
            )
            said.append(f"HubSpot: the deal property {name} exists.")
        except CrmError as exc:
            if "(404" not in str(exc):
                raise
            self.call(
                f"creating the deal property {name}",
                self.client.crm.properties.core_api.create,
                "deals",
                property_create=self.properties.PropertyCreate(
                    name=name,
                    label="Expansion opportunity id",
                    type="string",
                    field_type="text",
                    group_name="dealinformation",
                    description="Written by the expansion bot: the opportunity this deal is for.",
                    has_unique_value=True,
                ),
            )
            said.append(f"HubSpot: created the deal property {name}.")
        if not self.settings.portal_id:
            said.append(
                "HubSpot: set [crm] portal_id (your HubSpot account id, top right in HubSpot) "
                "for 'Open in HubSpot' links."
            )
        return said


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


__all__ = ["WRITE_SCOPE", "HubSpotWriter"]


def _by_id_or_label(items: list[dict], wanted: str) -> dict | None:
    """The first pipeline or stage whose id or label is ``wanted``."""
    return next((i for i in items if wanted in (i.get("id"), i.get("label"))), None)


def _known(items: list[dict]) -> str:
    """``id (label), ...`` of the pipelines or stages HubSpot has, for an error message."""
    return ", ".join(f"{i.get('id')} ({i.get('label')})" for i in items) or "none"
