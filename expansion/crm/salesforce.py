"""Salesforce write-back through simple-salesforce: Opportunities upserted on an external id.

An Opportunity is upserted on ``[crm] salesforce_id_field`` (default
``Expansion_Opportunity_Id__c``, a Text(255) field marked External ID and Unique that
``expansion crm setup`` tells you to create) = the opportunity id, so a second click, a retry
after a timeout and two replicas all land on one record. Fields: ``AccountId`` (the Account whose
``account_id_field`` is the account id), ``Name`` (account - type), ``Amount`` (expansion ARR),
``CloseDate``, ``StageName`` (``[crm] salesforce_stage``), ``Type`` (``[crm] salesforce_type``,
"" to leave it out) and ``OwnerId`` (the active User whose Email is the assignee's).

The integration user needs Create and Edit on Opportunity (and Read on Account and User). A
person's edit is told from the product's by ``LastModifiedById`` against ``CreatedById`` (the
integration user created the record). Rate limits (429, 403 REQUEST_LIMIT_EXCEEDED is daily and
not retried) and 5xx answers to reads and upserts (idempotent) are retried, honouring
Retry-After.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from ..connectors.base import SourceConfig, SourceError
from ..connectors.salesforce import SalesforceConnector
from . import (
    CrmConfigError,
    CrmError,
    CrmScopeError,
    CrmSettings,
    CrmState,
    CrmUnavailableError,
    HandMadeDeal,
    Written,
    close_date,
)

READ_FIELDS = [
    "Id",
    "Name",
    "StageName",
    "IsClosed",
    "IsWon",
    "Amount",
    "CloseDate",
    "CreatedById",
    "LastModifiedById",
]


def _quote(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


class SalesforceWriter:
    """One Salesforce org's Opportunities, for write-back and read-back."""

    def __init__(self, source: SourceConfig, settings: CrmSettings, env: Mapping[str, str] | None):
        self.connector = SalesforceConnector(source, os.environ if env is None else env)
        self.settings = settings
        try:
            self.sf = self.connector._connect()
        except SourceError as exc:
            raise CrmUnavailableError(str(exc)) from exc
        adapter = self.sf.session.adapters["https://"]
        adapter.max_retries = adapter.max_retries.new(
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET", "PATCH"}),  # an upsert is idempotent
        )
        self.field = settings.salesforce_id_field

    def close(self) -> None:
        self.sf.session.close()

    # -- calls -------------------------------------------------------------------------------

    def call(self, what: str, fn, *args, **kwargs) -> Any:
        import requests
        from simple_salesforce.exceptions import SalesforceError

        try:
            return fn(*args, **kwargs)
        except SalesforceError as exc:
            raise self._refused(exc, what) from exc
        except requests.exceptions.RequestException as exc:
            raise CrmUnavailableError(
                f"Salesforce did not answer while {what}; nothing was written here: try again "
                "in a few minutes (https://status.salesforce.com)."
            ) from exc

    def _refused(self, exc: Any, what: str) -> CrmError:
        status = int(getattr(exc, "status", 0) or 0)
        content = getattr(exc, "content", None)
        first = content[0] if isinstance(content, list) and content else {}
        code = str(first.get("errorCode") or "") if isinstance(first, dict) else ""
        message = str(first.get("message") or "") if isinstance(first, dict) else ""
        if status == 401:
            return CrmScopeError(
                f"Salesforce rejected the session while {what} (401): renew the access token."
            )
        if code == "INSUFFICIENT_ACCESS_OR_READONLY" or (status == 403 and "LIMIT" not in code):
            return CrmScopeError(
                f"Salesforce refused {what} ({code or status}): give the integration user "
                "Create and Edit on Opportunity (Setup > Profiles or a Permission Set)."
            )
        if code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST":
            return CrmConfigError(
                f"Salesforce refused {what}: {message}. Set [crm] salesforce_stage in "
                "expansion.toml to one of the Opportunity stages."
            )
        if status == 404 and "external ID field" in message:
            return CrmConfigError(
                f"Salesforce has no Opportunity field {self.field}: run `expansion crm setup` "
                "and create it as it says."
            )
        if status in (429, 503) or code == "REQUEST_LIMIT_EXCEEDED":
            return CrmUnavailableError(
                f"Salesforce kept refusing for its API limit while {what} ({code or status}); "
                "nothing was written here: try again later."
            )
        if status >= 500:
            return CrmUnavailableError(
                f"Salesforce failed while {what} ({status}); nothing was written here: try "
                "again later (https://status.salesforce.com)."
            )
        return CrmError(f"Salesforce refused {what} ({code or status}: {message}).")

    def query(self, soql: str, what: str) -> list[dict]:
        return self.call(what, self.sf.query_all, soql).get("records") or []

    # -- lookups -----------------------------------------------------------------------------

    def account_ids(self, account_ids: list[str]) -> dict[str, str]:
        field = self.connector.account_id_field
        if field == "Id":
            return {a: a for a in account_ids}
        found: dict[str, str] = {}
        for start in range(0, len(account_ids), 200):
            chunk = account_ids[start : start + 200]
            rows = self.query(
                f"SELECT Id, {field} FROM Account WHERE {field} IN "
                f"({', '.join(_quote(a) for a in chunk)})",
                "finding the Account",
            )
            for row in rows:
                found.setdefault(str(row.get(field)), str(row["Id"]))
        return found

    def owner_id(self, email: str | None) -> str | None:
        if not email:
            return None
        rows = self.query(
            f"SELECT Id FROM User WHERE Email = {_quote(email)} AND IsActive = true LIMIT 1",
            "looking up the Opportunity owner",
        )
        return str(rows[0]["Id"]) if rows else None

    def url(self, record_id: str) -> str:
        return f"https://{self.sf.sf_instance}/lightning/r/Opportunity/{record_id}/view"

    # -- write -------------------------------------------------------------------------------

    def create(self, opp: Mapping[str, Any], assignee_email: str | None) -> Written:
        account = str(opp["account_id"])
        account_id = self.account_ids([account]).get(account)
        if account_id is None:
            raise CrmError(
                f"Salesforce has no Account for account {account} "
                f"({self.connector.account_id_field}): sync the CRM source, then try again."
            )
        owner = self.owner_id(assignee_email)
        closes = close_date(opp)
        data: dict[str, Any] = {
            "AccountId": account_id,
            "Name": f"{opp.get('account_name') or account} - "
            f"{opp.get('type_label') or opp.get('type')}",
            "Amount": round(float(opp["expansion_arr"]), 2),
            "CloseDate": closes.isoformat(),
            "StageName": self.settings.salesforce_stage,
        }
        if self.settings.salesforce_type:
            data["Type"] = self.settings.salesforce_type
        if owner is not None:
            data["OwnerId"] = owner
        opportunity_id = str(opp["opportunity_id"])
        response = self.call(
            "upserting the Opportunity",
            self.sf.Opportunity.upsert,
            f"{self.field}/{opportunity_id}",
            data,
            raw_response=True,
        )
        record_id = None
        if response.status_code == 201:
            record_id = str(response.json()["id"])
        else:  # 204: it existed (a retry after a timeout): find its Id
            rows = self.query(
                f"SELECT Id FROM Opportunity WHERE {self.field} = {_quote(opportunity_id)}",
                "reading the Opportunity back",
            )
            record_id = str(rows[0]["Id"])
        return Written(
            record_id, self.url(record_id), owner, self.settings.salesforce_stage, closes
        )

    def update_amount(self, record_id: str, amount: float) -> None:
        self.call(
            "updating the Opportunity amount",
            self.sf.Opportunity.update,
            record_id,
            {"Amount": round(amount, 2)},
        )

    # -- read --------------------------------------------------------------------------------

    def _stage(self, row: dict) -> str | None:
        """Salesforce's IsWon / IsClosed as the settings' won and lost stage names."""
        if row.get("IsWon"):
            return self.settings.won_stages[0]
        if row.get("IsClosed"):
            return self.settings.lost_stages[0]
        return row.get("StageName")

    def read(self, record_ids: list[str]) -> dict[str, CrmState]:
        found: dict[str, CrmState] = {}
        ids = list(dict.fromkeys(str(i) for i in record_ids))
        for start in range(0, len(ids), 200):
            rows = self.query(
                f"SELECT {', '.join(READ_FIELDS)} FROM Opportunity WHERE Id IN "
                f"({', '.join(_quote(i) for i in ids[start : start + 200])})",
                "reading the Opportunities back",
            )
            for row in rows:
                found[str(row["Id"])] = CrmState(
                    crm_id=str(row["Id"]),
                    stage=self._stage(row),
                    amount=None if row.get("Amount") is None else float(row["Amount"]),
                    close_date=_date(row.get("CloseDate")),
                    edited_by_person=bool(row.get("LastModifiedById"))
                    and row.get("LastModifiedById") != row.get("CreatedById"),
                )
        return found

    def hand_made(self, account_ids: list[str]) -> dict[str, list[HandMadeDeal]]:
        accounts = self.account_ids(account_ids)
        if not accounts:
            return {}
        account_of = {v: k for k, v in accounts.items()}
        out: dict[str, list[HandMadeDeal]] = defaultdict(list)
        ids = list(account_of)
        type_field = self.settings.type_property
        fields = ["Id", "Name", "AccountId", "CreatedDate", "Amount"]
        if type_field:
            fields.append(type_field)
        for start in range(0, len(ids), 200):
            rows = self.query(
                f"SELECT {', '.join(fields)} FROM Opportunity WHERE {self.field} = null AND "
                f"AccountId IN ({', '.join(_quote(i) for i in ids[start : start + 200])}) "
                "ORDER BY CreatedDate ASC",
                "reading the Accounts' Opportunities",
            )
            for row in rows:
                created = _time(row.get("CreatedDate")) or datetime.now(UTC)
                out[account_of[str(row["AccountId"])]].append(
                    HandMadeDeal(
                        crm_id=str(row["Id"]),
                        name=str(row.get("Name") or ""),
                        type=(row.get(type_field) or None) if type_field else None,
                        created_at=created,
                        amount=None if row.get("Amount") is None else float(row["Amount"]),
                        url=self.url(str(row["Id"])),
                    )
                )
        return dict(out)

    # -- setup -------------------------------------------------------------------------------

    def setup(self) -> list[str]:
        described = self.call("describing Opportunity", self.sf.Opportunity.describe)
        fields = {f["name"]: f for f in described.get("fields") or []}
        said = []
        stages = [
            p.get("value")
            for p in (fields.get("StageName") or {}).get("picklistValues") or []
            if p.get("active", True)
        ]
        if stages and self.settings.salesforce_stage not in stages:
            raise CrmConfigError(
                f"Salesforce has no Opportunity stage '{self.settings.salesforce_stage}': set "
                f"[crm] salesforce_stage in expansion.toml to one of {', '.join(stages)}."
            )
        said.append(
            f"Salesforce: Opportunities are created in stage {self.settings.salesforce_stage}."
        )
        field = fields.get(self.field)
        if field is None:
            said.append(
                f"Salesforce: create the Opportunity field {self.field} (Setup > Object Manager "
                "> Opportunity > Fields & Relationships > New: Text(255), External ID, Unique), "
                "visible and editable to the integration user; then run this again."
            )
        elif not field.get("externalId"):
            said.append(
                f"Salesforce: mark the Opportunity field {self.field} as External ID and Unique "
                "(Setup > Object Manager > Opportunity > Fields & Relationships > Edit)."
            )
        else:
            said.append(f"Salesforce: the Opportunity field {self.field} exists (External ID).")
        return said


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _time(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(
            str(value).replace("Z", "+00:00").replace("+0000", "+00:00")
        )
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
