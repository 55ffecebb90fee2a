"""``pipeline.sync_all``: the one "sync every source, then re-score" the CLI, the bot and the
nightly job share. One bad source keeps its data, is reported on its own, and does not stop
the others; the portfolio is re-scored when any source synced."""

from __future__ import annotations

import logging

from expansion import pipeline, store
from expansion.connectors import SourceConfig
from expansion.connectors.files import FilesConnector
from expansion.errors import ContractError, ExpansionError
from expansion.samples import SAMPLE_AS_OF, SAMPLE_PORTFOLIO


def files(name: str, path, role: str = "files") -> SourceConfig:
    return SourceConfig(name=name, type="files", options={"path": str(path)}, role=role)


def test_a_failing_source_does_not_stop_the_others_and_the_rest_is_scored(engine, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    done = pipeline.sync_all(
        engine, [files("broken", empty), files("crm", SAMPLE_PORTFOLIO)], as_of=SAMPLE_AS_OF
    )
    assert [o.source.name for o in done.outcomes] == ["broken", "crm"]
    broken, crm = done.outcomes
    assert isinstance(broken.error, ContractError) and broken.report is None
    assert broken.reason == str(broken.error)  # an engine error is said in its own words
    assert crm.error is None and crm.report.run.rows_accepted > 0
    assert done.reports == [crm.report] and done.failures == [broken]
    assert done.run_id is not None and done.score_error is None
    assert store.row_counts(engine, "crm")["accounts"] == 44
    runs = store.sync_runs(engine)
    assert set(zip(runs["source"], runs["status"], strict=True)) == {
        ("broken", "failed"),
        ("crm", "succeeded"),
    }


def test_sources_sync_crm_first(engine):
    done = pipeline.sync_all(
        engine,
        [
            files("warehouse", SAMPLE_PORTFOLIO, role="warehouse"),
            files("crm", SAMPLE_PORTFOLIO, "crm"),
        ],
        as_of=SAMPLE_AS_OF,
    )
    assert [o.source.name for o in done.outcomes] == ["crm", "warehouse"]
    assert not done.failures


def test_an_unexpected_error_is_logged_and_named_only_by_its_type(engine, monkeypatch, caplog):
    real = FilesConnector.location

    def location(self):
        if self.config.name == "flaky":
            raise OSError("/secret/path is gone")
        return real(self)

    monkeypatch.setattr(FilesConnector, "location", location)
    with caplog.at_level(logging.ERROR, logger="expansion.pipeline"):
        done = pipeline.sync_all(
            engine,
            [files("flaky", SAMPLE_PORTFOLIO), files("crm", SAMPLE_PORTFOLIO)],
            as_of=SAMPLE_AS_OF,
        )
    flaky = next(o for o in done.outcomes if o.source.name == "flaky")
    assert isinstance(flaky.error, OSError) and not isinstance(flaky.error, ExpansionError)
    assert flaky.reason == "OSError"  # shown to people without its text; the log has it
    assert "sync of flaky failed" in caplog.text and "/secret/path" in caplog.text
    assert [r.run.source for r in done.reports] == ["crm"] and done.run_id is not None


def test_nothing_synced_nothing_scored(engine, tmp_path):
    done = pipeline.sync_all(engine, [files("broken", tmp_path)], as_of=SAMPLE_AS_OF)
    assert done.failures and not done.reports
    # score() on this empty database would have said NoDataError (kept in score_error)
    assert done.run_id is None and done.score_error is None


def test_each_source_gets_its_rejects_path_and_progress(engine, tmp_path):
    seen: list[tuple[str, str]] = []

    class Steps:
        def __init__(self, source):
            self.source = source

        def __enter__(self):
            return lambda message: seen.append((self.source.name, message))

        def __exit__(self, *exc):
            return False

    done = pipeline.sync_all(
        engine,
        [files("crm", SAMPLE_PORTFOLIO)],
        as_of=SAMPLE_AS_OF,
        rejects_path=lambda source: tmp_path / f"rejects-{source.name}.csv",
        progress=Steps,
    )
    assert not done.failures
    assert seen and {name for name, _ in seen} == {"crm"}
