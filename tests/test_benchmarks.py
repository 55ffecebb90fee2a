"""The benchmark runs end to end at 2k accounts (a smoke test: no timing is asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import run  # noqa: E402


def test_benchmark_smoke_at_2k_accounts(tmp_path):
    out = tmp_path / "results.md"
    assert (
        run.main(
            [
                "--sizes",
                "2000",
                "--no-slash",
                "--reference-size",
                "2000",
                "--workdir",
                str(tmp_path / "work"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = out.read_text()
    for stage in run.STAGES:
        assert f"| 2,000 | {stage} |" in text
    assert "2,000 accounts (" in text  # score saw every account
    assert "opportunities identical" in text, text
    assert "Machine: cpu" in text
    if run.cpu_ticks() is not None:  # Linux: how busy the machine was is recorded
        assert "How busy it was: load average" in text and "(steal) during the run" in text


def test_a_stage_past_the_memory_limit_is_stopped_and_reported(tmp_path):
    """A 1M-account stage that would exhaust the machine is stopped and shown as not
    measured, and the run goes on (every Python process with pandas holds > 40 MB)."""
    result = run.run_stage(
        "score",
        f"sqlite:///{tmp_path / 'x.db'}",
        tmp_path,
        run.AS_OF,
        memory_limit_mb=40,
    )
    assert result["error"] == "stopped at the 40 MB memory limit"
    measured = run.Measured(accounts=1_000_000, stages={"sync": {"seconds": 1.0, "peak_mb": 9.0}})
    measured.stages["score"] = result
    rows = {row[0]: row[3] for row in run.verdicts([measured], None, None)}
    assert rows["1,000,000: score"] == "not measured: stopped at the 40 MB memory limit"
    assert "40 MB memory limit" in run.render([measured], None, None, {}, seed=7)


def test_a_failing_stage_says_why(tmp_path):
    result = run.run_stage("find", f"sqlite:///{tmp_path / 'empty.db'}", tmp_path, run.AS_OF)
    assert result["error"].startswith("failed (exit 1): ")
    assert "expansion sync" in result["error"]  # the engine's own message: no data yet


def test_steal_is_the_hosts_share_of_the_cpu_time_and_shown_when_notable():
    assert run.steal_percent((1_000, 10), (3_000, 110)) == 5.0
    assert run.steal_percent((1_000, 10), (1_000, 10)) is None  # no time passed
    assert run.steal_percent(None, (3_000, 110)) is None  # no /proc/stat
    measured = run.Measured(
        accounts=100_000,
        stages={
            "score": {
                "seconds": 9.0,
                "peak_mb": 1.0,
                "accounts": 1,
                "opportunities": 1,
                "accounts_per_second": 1.0,
                "steal_percent": 37.4,
            },
            "find": {
                "seconds": 1.0,
                "peak_mb": 1.0,
                "opportunities": 1,
                "tier1": 1,
                "warm_seconds": 0.1,
                "repeat_seconds": 0.0,
                "steal_percent": 0.3,
            },
        },
    )
    rows = {row[1]: row[4] for row in run._stage_rows([measured])}
    assert rows["score"].endswith(
        "host took 37% of the CPU (steal): slower than on a quiet machine"
    )
    assert "steal" not in rows["find"]
