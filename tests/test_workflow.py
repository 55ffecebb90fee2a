"""Assignments, outcomes and the audit trail (expansion.workflow through expansion.pipeline)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from expansion import pipeline, workflow
from expansion.workflow import UnknownOpportunityError

AS_OF = pipeline.SAMPLE_AS_OF


@pytest.fixture
def sample(engine):
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    return engine


def _top(engine, scope="enterprise"):
    return pipeline.find(engine, scope, as_of=AS_OF).opportunities.iloc[0]


def test_assign_and_unassign_are_stored_and_audited(sample):
    top = _top(sample)
    pipeline.assign(sample, top.opportunity_id, assignee="U1", actor="UADMIN", as_of=AS_OF)
    again = _top(sample)
    assert again.opportunity_id == top.opportunity_id
    assert (again.assignee, again.assigned_by) == ("U1", "UADMIN")

    pipeline.assign(sample, top.opportunity_id, assignee="U2", actor="UOWNER", as_of=AS_OF)
    pipeline.assign(sample, top.opportunity_id, assignee=None, actor="UOWNER", as_of=AS_OF)
    assert _top(sample).assignee is None
    trail = workflow.events(sample, top.opportunity_id)
    assert trail[["action", "actor", "assignee"]].fillna("").values.tolist() == [
        ["assign", "UADMIN", "U1"],
        ["assign", "UOWNER", "U2"],
        ["unassign", "UOWNER", ""],
    ]
    assert workflow.assigned_ids(sample, "U2") == []


def test_repeating_an_assignment_or_an_outcome_records_nothing(sample):
    top = _top(sample).opportunity_id
    assign = dict(actor="UADMIN", as_of=AS_OF)
    assert pipeline.assign(sample, top, assignee="U1", **assign)
    assert not pipeline.assign(sample, top, assignee="U1", **assign)
    assert pipeline.record_outcome(sample, top, "won", actor="U1", as_of=AS_OF)
    assert not pipeline.record_outcome(sample, top, "won", actor="U2", as_of=AS_OF)
    assert pipeline.record_outcome(sample, top, "snoozed", actor="U1", as_of=AS_OF)
    assert not pipeline.record_outcome(sample, top, "snoozed", actor="U1", as_of=AS_OF)
    # A snooze clicked on a later day moves its end: that is a change.
    later = AS_OF + timedelta(days=3)
    assert pipeline.record_outcome(sample, top, "snoozed", actor="U1", as_of=later)
    other = pipeline.find(sample, "all", as_of=AS_OF).opportunities["opportunity_id"].iloc[-1]
    assert not pipeline.record_outcome(sample, other, "open", actor="U1", as_of=AS_OF)
    assert not pipeline.assign(sample, other, assignee=None, **assign)
    trail = workflow.events(sample)
    assert trail["action"].tolist() == ["assign", "won", "snoozed", "snoozed"]
    assert trail["actor"].tolist() == ["UADMIN", "U1", "U1", "U1"]


def test_outcomes_take_opportunities_out_of_lists(sample):
    result = pipeline.find(sample, "all", as_of=AS_OF)
    first, second, third = result.opportunities["opportunity_id"].iloc[:3]
    pipeline.record_outcome(sample, first, "won", actor="U1", as_of=AS_OF)
    pipeline.record_outcome(sample, second, "not_a_fit", actor="U1", as_of=AS_OF)
    pipeline.record_outcome(sample, third, "snoozed", actor="U1", as_of=AS_OF)
    after = pipeline.find(sample, "all", as_of=AS_OF)
    assert not {first, second, third} & set(after.opportunities["opportunity_id"])
    assert len(after.opportunities) == len(result.opportunities) - 3

    # The predicted close probability is kept with the outcome, for calibration.
    state = workflow.states(sample, [first]).loc[first]
    assert state.outcome == "won"
    expected = result.opportunities.set_index("opportunity_id").loc[first, "close_probability"]
    assert state.predicted_close_probability == pytest.approx(expected)

    # The snooze ends after 30 days; won and not-a-fit stay out.
    state = workflow.states(sample)
    opps = result.opportunities[["opportunity_id"]]
    for day, active in ((29, False), (30, True)):
        later = workflow.annotate(opps, state, today=AS_OF + timedelta(days=day))
        flags = later.set_index("opportunity_id")["active"]
        assert bool(flags[third]) == active
        assert not flags[first] and not flags[second]
    closed = pipeline.find(sample, "all", as_of=AS_OF, include_closed=True)
    assert {first, second, third} <= set(closed.opportunities["opportunity_id"])


def test_state_survives_a_rescore_of_changed_data(sample, tmp_path):
    top = _top(sample)
    pipeline.assign(sample, top.opportunity_id, assignee="U9", actor="UADMIN", as_of=AS_OF)
    # A new sync (the same exports under another source name) forces a new scoring run.
    pipeline.sync_folder(sample, pipeline.SAMPLE_PORTFOLIO, source="sample")
    again = pipeline.find(sample, "enterprise", as_of=AS_OF).opportunities
    row = again.set_index("opportunity_id").loc[top.opportunity_id]
    assert row.assignee == "U9"


def test_actions_on_unknown_opportunities_are_refused(sample):
    with pytest.raises(UnknownOpportunityError, match="not in the latest scoring"):
        pipeline.assign(sample, "ACC-0000-seat_expansion-1", assignee="U1", actor="U", as_of=AS_OF)
    assert workflow.events(sample).empty


def test_a_post_is_claimed_once(engine):
    where = {"channel": "C1", "thread_ts": "1.0", "kind": "deep_dive", "key": "ACC-1"}
    assert workflow.claim_post(engine, **where)
    assert not workflow.claim_post(engine, **where)
    assert workflow.find_post(engine, **where).ts is None
    workflow.record_post(engine, **where, ts="2.0")
    assert workflow.find_post(engine, **where).ts == "2.0"
    assert workflow.latest_post(engine, kind="deep_dive", key="ACC-1").ts == "2.0"
    # A failed post gives its claim back; a finished one is kept.
    other = {**where, "key": "ACC-2"}
    assert workflow.claim_post(engine, **other)
    workflow.release_post(engine, **other)
    assert workflow.claim_post(engine, **other)
    workflow.release_post(engine, **where)
    assert workflow.find_post(engine, **where).ts == "2.0"
