"""find's answers are shared: identical concurrent asks compute one answer, and a new scoring
run or a workflow change (an assignment, an outcome) gives a fresh one."""

from __future__ import annotations

import threading

import pytest

from expansion import pipeline, store
from expansion.errors import ScopeError

AS_OF = pipeline.SAMPLE_AS_OF


@pytest.fixture
def engine(tmp_path):
    engine = store.connect(f"sqlite:///{tmp_path / 'shared.db'}")
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    pipeline.score(engine, as_of=AS_OF)
    yield engine
    engine.dispose()


def _count_computations(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = pipeline._find

    def counted(engine, parsed, run_id, **kwargs):
        calls.append(parsed.text)
        return real(engine, parsed, run_id, **kwargs)

    monkeypatch.setattr(pipeline, "_find", counted)
    return calls


def test_identical_concurrent_asks_compute_one_answer(engine, monkeypatch):
    calls = _count_computations(monkeypatch)
    start = threading.Barrier(8)
    answers = []

    def ask():
        start.wait()
        answers.append(pipeline.find(engine, "enterprise", as_of=AS_OF))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 8 and all(a is answers[0] for a in answers)
    assert calls == ["enterprise"]
    assert len(answers[0].opportunities) > 0


def test_a_workflow_change_or_a_new_scoring_gives_a_fresh_answer(engine, monkeypatch):
    calls = _count_computations(monkeypatch)
    first = pipeline.find(engine, "enterprise", as_of=AS_OF)
    assert pipeline.find(engine, "enterprise", as_of=AS_OF) is first
    opp = first.opportunities["opportunity_id"].iloc[0]
    pipeline.assign(engine, opp, assignee="U123", actor="U999", as_of=AS_OF)
    after = pipeline.find(engine, "enterprise", as_of=AS_OF)
    assert after is not first
    assert after.opportunities.set_index("opportunity_id").loc[opp, "assignee"] == "U123"
    pipeline.score(engine, as_of=AS_OF, force=True)  # a new run
    assert pipeline.find(engine, "enterprise", as_of=AS_OF) is not after
    assert calls.count("enterprise") == 3


def test_only_the_latest_answers_are_kept_and_failures_are_not(engine, monkeypatch):
    calls = _count_computations(monkeypatch)
    for scope in ("enterprise", "mid-market", "smb", "enterprise"):
        pipeline.find(engine, scope, as_of=AS_OF)
    assert calls == ["enterprise", "mid-market", "smb", "enterprise"]  # kept: the last two
    pipeline.find(engine, "smb", as_of=AS_OF)
    assert calls[-1] == "enterprise"

    failures = []

    def broken(*args, **kwargs):
        failures.append(1)
        raise ScopeError("no such accounts")

    monkeypatch.setattr(pipeline, "_find", broken)
    for _ in range(2):
        with pytest.raises(ScopeError):
            pipeline.find(engine, "healthy", as_of=AS_OF)
    assert len(failures) == 2  # asked again, not the first failure replayed


def test_prepare_leaves_the_run_decoded_for_the_first_command(engine, monkeypatch):
    run_id = pipeline.score_and_load(engine, as_of=AS_OF)
    assert run_id == pipeline.score(engine, as_of=AS_OF)

    def no_reading(*args, **kwargs):
        raise AssertionError("the run should already be in memory")

    monkeypatch.setattr(store, "read_results", no_reading)
    assert len(pipeline.find(engine, "enterprise", as_of=AS_OF).opportunities) > 0
