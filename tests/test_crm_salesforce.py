"""Write-back to Salesforce and outcomes read back, through simple-salesforce against the fake."""

from __future__ import annotations

import pandas as pd
import pytest
from salesforce_fake import SalesforceFake

from expansion import crm, pipeline, workflow
from expansion.connectors import SourceConfig

AS_OF = pipeline.SAMPLE_AS_OF
FIELD = "Expansion_Opportunity_Id__c"
SETTINGS = crm.CrmSettings()


@pytest.fixture
def org(monkeypatch):
    with SalesforceFake() as fake:
        fake.trust(monkeypatch)
        fake.seed_from_portfolio(pipeline.SAMPLE_PORTFOLIO)
        fake.add_field("Opportunity", FIELD)
        yield fake
        assert not fake.errors, fake.errors


@pytest.fixture
def sample(engine):
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    return engine


def _source() -> SourceConfig:
    options = {"account_id_field": "AccountNumber", "retry_backoff": 0.01, "max_retries": 2}
    return SourceConfig("crm", "salesforce", options, role="crm")


def _opportunity(engine, n: int = 0) -> dict:
    opps = pipeline.find(engine, "all", as_of=AS_OF).opportunities
    return pipeline.opportunity(engine, opps["opportunity_id"].iloc[n], as_of=AS_OF)


def _write(engine, org, opp, email=None, settings=SETTINGS):
    return crm.write_opportunity(
        engine, opp, assignee_email=email, settings=settings, source=_source(), env=org.env()
    )


def _records(org, opportunity_id):
    return [r for r in org.records["Opportunity"].values() if r.get(FIELD) == opportunity_id]


def test_upsert_creates_one_opportunity_owned_by_the_assignee(sample, org):
    email, user = next(iter(org.user_ids.items()))
    opp = _opportunity(sample)
    result = _write(sample, org, opp, email=email)
    assert result.created and not result.unowned
    (record,) = _records(org, opp["opportunity_id"])
    assert record["OwnerId"] == user
    assert record["AccountId"] == org.account_ids[opp["account_id"]]
    assert record["Amount"] == pytest.approx(opp["expansion_arr"])
    assert record["StageName"] == "Prospecting" and record["Type"] == SETTINGS.salesforce_type
    assert record["CloseDate"] == crm.close_date(opp).isoformat()
    assert result.url.endswith(f"/lightning/r/Opportunity/{record['Id']}/view")
    again = _write(sample, org, opp, email=email)
    assert not again.created and again.crm_id == record["Id"]
    assert len(_records(org, opp["opportunity_id"])) == 1


def test_a_retry_after_a_lost_answer_upserts_the_same_record(sample, org):
    opp = _opportunity(sample, 1)
    # The first upsert happened but its claim was released (the answer was lost).
    first = _write(sample, org, opp, email="nobody@example.com")
    assert first.unowned and "nobody@example.com" in first.message
    from expansion.store import CrmRecord

    with sample.begin() as conn:
        conn.execute(CrmRecord.__table__.update().values(status="failed", crm_id=None))
    again = _write(sample, org, opp)
    assert again.created and again.crm_id == first.crm_id  # 204: found by its external id
    assert len(_records(org, opp["opportunity_id"])) == 1


def test_errors_name_the_fix(sample, org):
    opp = _opportunity(sample, 2)
    org.writable.discard("Opportunity")
    with pytest.raises(crm.CrmScopeError, match="Create and Edit on Opportunity"):
        _write(sample, org, opp)
    org.writable.add("Opportunity")
    with pytest.raises(crm.CrmConfigError, match="salesforce_stage"):
        _write(sample, org, opp, settings=crm.CrmSettings(salesforce_stage="Won-ish"))
    org.remove_field("Opportunity", FIELD)
    with pytest.raises(crm.CrmConfigError, match="expansion crm setup"):
        _write(sample, org, opp)
    said = crm.setup(settings=SETTINGS, source=_source(), env=org.env())
    assert any(f"create the Opportunity field {FIELD}" in line for line in said)
    org.add_field("Opportunity", FIELD)
    said = crm.setup(settings=SETTINGS, source=_source(), env=org.env())
    assert any("exists (External ID)" in line for line in said)
    # 429 with Retry-After on the upsert: retried (an upsert is idempotent), then written.
    org.fail_next("/sobjects/Opportunity/", 429, headers={"Retry-After": "1"})
    assert _write(sample, org, opp).created
    assert len(_records(org, opp["opportunity_id"])) == 1


def test_amount_follows_rescoring_until_a_person_edits_and_outcomes_come_back(sample, org):
    first, second = _opportunity(sample, 0), _opportunity(sample, 1)
    for opp in (first, second):
        _write(sample, org, opp)
    (rec_2,) = _records(org, second["opportunity_id"])
    person = next(iter(org.user_ids.values()))
    org.update("Opportunity", rec_2["Id"], LastModifiedById=person, StageName="Qualification")
    rescored = pd.DataFrame(
        {
            "opportunity_id": [first["opportunity_id"], second["opportunity_id"]],
            "expansion_arr": [first["expansion_arr"] + 700, second["expansion_arr"] + 700],
        }
    )
    done = crm.update_amounts(sample, rescored, settings=SETTINGS, source=_source(), env=org.env())
    assert done == {
        first["opportunity_id"]: "updated",
        second["opportunity_id"]: "kept: edited in the CRM",
    }
    (rec_1,) = _records(org, first["opportunity_id"])
    assert rec_1["Amount"] == pytest.approx(first["expansion_arr"] + 700)

    org.update("Opportunity", rec_1["Id"], StageName="Closed Won", IsWon=True, IsClosed=True)
    org.update("Opportunity", rec_2["Id"], StageName="Closed Lost", IsWon=False, IsClosed=True)
    opps = pipeline.find(sample, "all", as_of=AS_OF, include_closed=True).opportunities
    report = crm.read_back(
        sample, opps, settings=SETTINGS, source=_source(), env=org.env(), today=AS_OF
    )
    assert report.won == [first["opportunity_id"]] and report.lost == [second["opportunity_id"]]
    states = workflow.states(sample, [first["opportunity_id"], second["opportunity_id"]])
    assert states.loc[first["opportunity_id"], "outcome"] == "won"
    assert states.loc[second["opportunity_id"], "outcome"] == "lost"
    assert states.loc[first["opportunity_id"], "outcome_by"] == "crm:crm"


def test_a_hand_made_opportunity_is_matched(sample, org):
    opps = pipeline.find(sample, "all", as_of=AS_OF).opportunities
    opp = opps.iloc[0]
    pipeline.assign(sample, opp.opportunity_id, assignee="U1", actor="U1", as_of=AS_OF)
    made = org.insert(
        "Opportunity",
        Name=f"{opp.type_label} for {opp.account_name}",
        AccountId=org.account_ids[opp.account_id],
        StageName="Closed Won",
        IsWon=True,
        IsClosed=True,
        Amount=9000,
        CloseDate="2026-12-02",
    )
    report = crm.read_back(
        sample, opps, settings=SETTINGS, source=_source(), env=org.env(), today=AS_OF
    )
    assert report.matched == [opp.opportunity_id] and report.won == [opp.opportunity_id]
    assert crm.record(sample, opp.opportunity_id).crm_id == made
