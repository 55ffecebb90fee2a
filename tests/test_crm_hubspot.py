"""Write-back to HubSpot and outcomes read back, through the official client against the fake."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pandas as pd
import pytest
from hubspot_fake import HubSpotFake

from expansion import crm, pipeline, workflow
from expansion.connectors import SourceConfig
from expansion.errors import ConfigError

AS_OF = pipeline.SAMPLE_AS_OF
ID_PROPERTY = "expansion_opportunity_id"


@pytest.fixture(scope="module")
def fake():
    with HubSpotFake() as hub:
        hub.seed_from_portfolio()
        yield hub


@pytest.fixture
def hub(fake):
    """The seeded fake, with the deals and properties a test wrote removed afterwards."""
    deals = set(fake.objects["deals"])
    owners = dict(fake.owners)
    fake.add_deal_property(ID_PROPERTY)
    yield fake
    with fake._lock:
        for deal_id in set(fake.objects["deals"]) - deals:
            fake.objects["deals"].pop(deal_id)
        fake.owners.clear()
        fake.owners.update(owners)
        fake.deal_properties.clear()
        fake.scopes.add("crm.objects.deals.write")
    fake.reset()


@pytest.fixture
def sample(engine):
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    return engine


def _source(hub: HubSpotFake) -> SourceConfig:
    return SourceConfig("crm", "hubspot", hub.connector_options(max_retries=2), role="crm")


def _env(hub: HubSpotFake) -> dict[str, str]:
    return {"HUBSPOT_ACCESS_TOKEN": hub.token}


SETTINGS = crm.CrmSettings(portal_id="4242")


def _opportunity(engine, n: int = 0) -> dict:
    opps = pipeline.find(engine, "all", as_of=AS_OF).opportunities
    return pipeline.opportunity(engine, opps["opportunity_id"].iloc[n], as_of=AS_OF)


def _write(engine, hub, opp, email="dana@example.com", settings=SETTINGS):
    return crm.write_opportunity(
        engine, opp, assignee_email=email, settings=settings, source=_source(hub), env=_env(hub)
    )


def _deals_of(hub, opportunity_id):
    return [
        d
        for d in hub.objects["deals"].values()
        if d["properties"].get(ID_PROPERTY) == opportunity_id
    ]


def test_create_writes_one_deal_with_owner_company_and_id(sample, hub):
    owner = hub.add_owner("dana@example.com")
    opp = _opportunity(sample)
    result = _write(sample, hub, opp)
    assert result.created and not result.unowned and result.message == ""
    (deal,) = _deals_of(hub, opp["opportunity_id"])
    props = deal["properties"]
    assert props["hubspot_owner_id"] == owner
    assert float(props["amount"]) == pytest.approx(opp["expansion_arr"])
    assert props["pipeline"] == "default" and props["dealstage"] == "appointmentscheduled"
    assert props["dealname"] == f"{opp['account_name']} - {opp['type_label']}"
    assert props["closedate"].startswith(crm.close_date(opp).isoformat())
    company = hub.seeded_companies[opp["account_id"]]
    assert company in hub.links[("deals", "companies")][deal["id"]]
    assert result.url == f"https://app.hubspot.com/contacts/4242/record/0-3/{deal['id']}"
    stored = crm.record(sample, opp["opportunity_id"])
    assert (stored.status, stored.crm_id, stored.written_amount) == (
        "written",
        deal["id"],
        pytest.approx(opp["expansion_arr"]),
    )

    # A second click: the same record, no second request to create.
    creates = len(hub.requests_to("/crm/v3/objects/deals", "POST"))
    again = _write(sample, hub, opp)
    assert not again.created and again.crm_id == result.crm_id
    assert len(hub.requests_to("/crm/v3/objects/deals", "POST")) == creates
    assert len(_deals_of(hub, opp["opportunity_id"])) == 1


def test_no_crm_user_for_the_email_creates_unowned_and_says_so(sample, hub):
    opp = _opportunity(sample, 1)
    result = _write(sample, hub, opp, email="nobody@example.com")
    assert result.created and result.unowned
    assert "nobody@example.com" in result.message and "without an owner" in result.message
    (deal,) = _deals_of(hub, opp["opportunity_id"])
    assert "hubspot_owner_id" not in deal["properties"]


def _race(url: str, hub: HubSpotFake, opp: dict) -> None:
    """Two writers of one opportunity, each with its own engine (as two replicas have): the
    first is held on its first HubSpot call while the second tries."""
    import time

    from expansion import store

    hub.delay_next("/crm/v3/pipelines", 1.5)
    results: dict[str, object] = {}

    def run(name):
        engine = store.connect(url)
        try:
            results[name] = _write(engine, hub, opp)
        except crm.CrmError as exc:
            results[name] = exc
        finally:
            engine.dispose()

    first = threading.Thread(target=run, args=("first",))
    first.start()
    time.sleep(0.5)
    run("second")
    first.join()
    assert isinstance(results["second"], crm.CrmBusyError)
    assert "another click" in str(results["second"])
    assert results["first"].created
    assert len(_deals_of(hub, opp["opportunity_id"])) == 1
    # Once written, the loser's retry gets the record.
    run("third")
    assert results["third"].crm_id == results["first"].crm_id and not results["third"].created


def test_two_racing_processes_make_one_deal(sample, hub, db_url):
    _race(db_url, hub, _opportunity(sample, 2))


def test_two_racing_replicas_on_postgres_make_one_deal(hub, pg_url):
    from expansion import store

    engine = store.connect(pg_url)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    opp = _opportunity(engine, 2)
    engine.dispose()
    _race(pg_url, hub, opp)


def test_a_retry_after_a_timeout_adopts_the_deal_the_first_try_made(sample, hub):
    opp = _opportunity(sample, 3)
    source = SourceConfig("crm", "hubspot", hub.connector_options(timeout=0.5), role="crm")
    hub.delay_next("/crm/v3/objects/deals", 1.2, skip=1)  # the search passes, the create hangs
    with pytest.raises(crm.CrmUnavailableError, match="nothing was written here"):
        crm.write_opportunity(
            sample, opp, assignee_email=None, settings=SETTINGS, source=source, env=_env(hub)
        )
    failed = crm.record(sample, opp["opportunity_id"])
    assert failed.status == "failed" and failed.crm_id is None and failed.error
    import time

    time.sleep(1.0)  # HubSpot finished the create the client gave up on
    assert len(_deals_of(hub, opp["opportunity_id"])) == 1
    result = crm.write_opportunity(
        sample, opp, assignee_email=None, settings=SETTINGS, source=source, env=_env(hub)
    )
    assert len(_deals_of(hub, opp["opportunity_id"])) == 1
    assert result.crm_id == _deals_of(hub, opp["opportunity_id"])[0]["id"]
    assert crm.record(sample, opp["opportunity_id"]).status == "written"


def test_missing_write_scope_unknown_stage_and_rate_limit(sample, hub):
    opp = _opportunity(sample, 4)
    hub.scopes.discard("crm.objects.deals.write")
    with pytest.raises(crm.CrmScopeError, match=r"crm\.objects\.deals\.write"):
        _write(sample, hub, opp)
    hub.scopes.add("crm.objects.deals.write")
    assert crm.record(sample, opp["opportunity_id"]).crm_id is None

    bad = crm.CrmSettings(
        stages={"open": "negotiation", "won": ["closedwon"], "lost": ["closedlost"]}
    )
    with pytest.raises(crm.CrmConfigError, match=r"no stage 'negotiation'.*\[crm\.stages\] open"):
        _write(sample, hub, opp, settings=bad)
    with pytest.raises(crm.CrmConfigError, match="no deal pipeline 'Renewals'"):
        _write(sample, hub, opp, settings=crm.CrmSettings(pipeline="Renewals"))

    # 429 with Retry-After: retried by the client, then written.
    hub.fail_next("/crm/v3/objects/deals", 429, retry_after=1, skip=1)
    result = _write(sample, hub, opp)
    assert result.created
    posts = hub.requests_to("/crm/v3/objects/deals", "POST")
    assert [r.status for r in posts[-2:]] == [429, 201]
    assert len(_deals_of(hub, opp["opportunity_id"])) == 1

    # HubSpot down: nothing written here, the next click tries again.
    other = _opportunity(sample, 5)
    hub.fail_next("/crm/v3/pipelines", 503, count=3)
    with pytest.raises(crm.CrmUnavailableError, match="try again"):
        _write(sample, hub, other)
    assert crm.record(sample, other["opportunity_id"]).crm_id is None
    assert _deals_of(hub, other["opportunity_id"]) == []


def test_rescoring_updates_the_amount_until_a_person_edits_it(sample, hub):
    first, second = _opportunity(sample, 0), _opportunity(sample, 1)
    for opp in (first, second):
        _write(sample, hub, opp)
    deal_2 = _deals_of(hub, second["opportunity_id"])[0]["id"]
    hub.touch("deals", deal_2, dealstage="qualifiedtobuy", hs_updated_by_user_id="9001")
    rescored = pd.DataFrame(
        {
            "opportunity_id": [first["opportunity_id"], second["opportunity_id"]],
            "expansion_arr": [first["expansion_arr"] + 1000, second["expansion_arr"] + 1000],
        }
    )
    done = crm.update_amounts(
        sample, rescored, settings=SETTINGS, source=_source(hub), env=_env(hub)
    )
    assert done == {
        first["opportunity_id"]: "updated",
        second["opportunity_id"]: "kept: edited in the CRM",
    }
    (deal_1,) = _deals_of(hub, first["opportunity_id"])
    assert float(deal_1["properties"]["amount"]) == pytest.approx(first["expansion_arr"] + 1000)
    assert float(hub.objects["deals"][deal_2]["properties"]["amount"]) == pytest.approx(
        second["expansion_arr"]
    )
    # A person changes the amount itself (no user id recorded): still theirs.
    hub.touch("deals", deal_1["id"], amount="1234")
    rescored.loc[0, "expansion_arr"] += 500
    done = crm.update_amounts(
        sample, rescored, settings=SETTINGS, source=_source(hub), env=_env(hub)
    )
    assert done[first["opportunity_id"]] == "kept: edited in the CRM"
    assert hub.objects["deals"][deal_1["id"]]["properties"]["amount"] == "1234"


def test_won_lost_and_reopened_are_read_back_and_win_over_slack(sample, hub):
    won, lost = _opportunity(sample, 0), _opportunity(sample, 1)
    for opp in (won, lost):
        _write(sample, hub, opp)
    pipeline.record_outcome(sample, won["opportunity_id"], "lost", actor="U1", as_of=AS_OF)
    deal_w = _deals_of(hub, won["opportunity_id"])[0]["id"]
    deal_l = _deals_of(hub, lost["opportunity_id"])[0]["id"]
    hub.touch("deals", deal_w, dealstage="closedwon", amount="20000", closedate="2026-12-01")
    hub.touch("deals", deal_l, dealstage="closedlost", closed_lost_reason="Budget frozen")
    opps = pipeline.find(sample, "all", as_of=AS_OF, include_closed=True).opportunities

    def read():
        return crm.read_back(
            sample, opps, settings=SETTINGS, source=_source(hub), env=_env(hub), today=AS_OF
        )

    report = read()
    assert report.won == [won["opportunity_id"]] and report.lost == [lost["opportunity_id"]]
    states = workflow.states(sample, [won["opportunity_id"], lost["opportunity_id"]])
    assert states.loc[won["opportunity_id"], "outcome"] == "won"
    assert states.loc[won["opportunity_id"], "expansion_arr"] == 20000
    assert states.loc[lost["opportunity_id"], "outcome"] == "lost"
    trail = workflow.events(sample, won["opportunity_id"])
    assert trail[["action", "actor"]].values.tolist() == [["lost", "U1"], ["won", "crm:crm"]]
    assert "$20,000" in trail["detail"].iloc[-1] and "2026-12-01" in trail["detail"].iloc[-1]
    assert "Budget frozen" in workflow.events(sample, lost["opportunity_id"])["detail"].iloc[-1]
    assert read().summary() == "CRM outcomes: no change"  # a second sync changes nothing

    hub.touch("deals", deal_w, dealstage="contractsent")
    assert read().reopened == [won["opportunity_id"]]
    assert (
        workflow.states(sample, [won["opportunity_id"]]).loc[won["opportunity_id"], "outcome"]
        == "open"
    )


def test_a_hand_made_deal_for_the_same_account_and_type_is_the_outcome(sample, hub):
    opps = pipeline.find(sample, "all", as_of=AS_OF).opportunities
    opp = opps.iloc[0]
    pipeline.assign(sample, opp.opportunity_id, assignee="U1", actor="U1", as_of=AS_OF)
    company = hub.seeded_companies[opp.account_id]
    other = hub.add_deal(company, stage="closedwon", dealname="Unrelated renewal", amount="5")
    deal = hub.add_deal(
        company,
        stage="closedwon",
        dealname=f"{opp.account_name} {opp.type_label} (Q1)",
        amount="15000",
        closedate="2026-12-03",
    )
    report = crm.read_back(
        sample, opps, settings=SETTINGS, source=_source(hub), env=_env(hub), today=AS_OF
    )
    assert report.matched == [opp.opportunity_id] and report.won == [opp.opportunity_id]
    stored = crm.record(sample, opp.opportunity_id)
    assert (stored.origin, stored.crm_id) == ("matched", deal)
    assert other not in set(crm.records(sample)["crm_id"])
    state = workflow.states(sample, [opp.opportunity_id]).loc[opp.opportunity_id]
    assert (state.outcome, state.expansion_arr) == ("won", 15000)


def test_setup_creates_the_property_once(hub):
    hub.deal_properties.clear()
    said = crm.setup(settings=SETTINGS, source=_source(hub), env=_env(hub))
    assert f"created the deal property {ID_PROPERTY}" in " ".join(said)
    assert hub.deal_properties[ID_PROPERTY]["hasUniqueValue"] is True
    said = crm.setup(settings=SETTINGS, source=_source(hub), env=_env(hub))
    assert f"the deal property {ID_PROPERTY} exists" in " ".join(said)


def test_settings_are_validated_with_clear_messages():
    ok = crm.settings_from_mapping(
        {"create_on_assign": True, "pipeline": "Sales", "stages": {"open": "qualifiedtobuy"}}
    )
    assert ok.create_on_assign and ok.open_stage == "qualifiedtobuy"
    assert ok.won_stages == ["closedwon"]
    for bad, message in (
        ({"pipline": "x"}, "unknown \\[crm\\] setting\\(s\\) pipline"),
        ({"create_on_assign": "yes"}, "create_on_assign must be true or false"),
        ({"stages": {"won": []}}, "won must be a list of stages"),
        ({"stages": {"won": ["closed"], "lost": ["closed"]}}, "both won and lost"),
        ({"stages": {"closed": "x"}}, "unknown key\\(s\\) closed"),
    ):
        with pytest.raises(ConfigError, match=message):
            crm.settings_from_mapping(bad)
    with pytest.raises(ConfigError, match="several CRM sources"):
        crm.crm_source(
            crm.CrmSettings(),
            [SourceConfig("a", "hubspot"), SourceConfig("b", "salesforce")],
        )
    with pytest.raises(ConfigError, match="names no \\[\\[sources\\]\\] entry"):
        crm.crm_source(crm.CrmSettings(source="x"), [SourceConfig("a", "hubspot")])
    assert crm.crm_source(crm.CrmSettings(), [SourceConfig("a", "hubspot")]).name == "a"


def test_cli_setup_and_a_sync_reads_the_outcome_back(hub, tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from expansion import store

    hub.deal_properties.clear()
    options = hub.connector_options()
    toml = [
        "[[sources]]",
        'name = "crm"',
        'type = "hubspot"',
        f'host = "{options["host"]}"',
        f'account_id_property = "{options["account_id_property"]}"',
        "[sources.properties]",
        *(f'{k} = "{v}"' for k, v in options["properties"].items()),
        "[crm]",
        'portal_id = "4242"',
        "[crm.stages]",
        'open = "Qualified To Buy"',
    ]
    (tmp_path / "expansion.toml").write_text("\n".join(toml) + "\n")
    db = f"sqlite:///{tmp_path / 'crm.db'}"
    expansion = str(Path(sys.executable).with_name("expansion"))
    env = {
        **os.environ,
        "HUBSPOT_ACCESS_TOKEN": hub.token,
        "EXPANSION_DB_URL": db,
        "EXPANSION_AS_OF": AS_OF.isoformat(),
        "COLUMNS": "200",
    }
    env.pop("EXPANSION_CONFIG", None)

    def run(*args):
        done = subprocess.run(
            [expansion, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    said = run("crm", "setup")
    assert f"created the deal property {ID_PROPERTY}" in said
    assert "stage qualifiedtobuy" in said
    run("sync")
    engine = store.connect(db)
    opp = _opportunity(engine)
    settings = crm.load_settings(tmp_path / "expansion.toml")
    source = crm.crm_source(settings, path=tmp_path / "expansion.toml")
    result = crm.write_opportunity(
        engine, opp, assignee_email=None, settings=settings, source=source, env=_env(hub)
    )
    assert hub.objects["deals"][result.crm_id]["properties"]["dealstage"] == "qualifiedtobuy"
    hub.touch("deals", result.crm_id, dealstage="closedwon", amount="31000")
    said = run("sync")
    assert "CRM outcomes: 1 won" in said
    state = workflow.states(engine, [opp["opportunity_id"]]).loc[opp["opportunity_id"]]
    assert (state.outcome, state.outcome_by, state.expansion_arr) == ("won", "crm:crm", 31000)
    status = run("crm", "status")
    assert "hubspot source 'crm'" in status and "1 records" in status
    # Outcomes read back by a sync count for calibration from the next sync on.
    today = datetime.now(UTC).date().isoformat()
    assert json.loads(run("calibration", "--json", "--as-of", today))["decided"] == 0
    assert "CRM outcomes: no change" in run("sync")
    report = json.loads(run("calibration", "--json", "--as-of", today))
    assert report["decided"] == 1 and not report["calibrated"]
    assert report["note"].endswith("(uncalibrated: 1 decided outcomes, 20 needed)")
    engine.dispose()
