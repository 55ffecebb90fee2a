"""Smoke test of the slash-command benchmark (``python -m benchmarks.slash``): it runs end to end
on the sample portfolio and every command is acked and answered. No timing is asserted here;
the figures are for the benchmark run, not for tests."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.slash import measure_slash, sample_database  # noqa: E402

AS_OF = "2026-11-16"


def test_measure_slash_on_the_sample(tmp_path):
    db_url = sample_database(tmp_path, AS_OF)
    result = measure_slash(
        db_url, as_of=AS_OF, commands=4, concurrency=4, scope="enterprise", workdir=tmp_path
    )
    assert result["errors"] == []
    assert result["commands"] == 4
    assert result["acked"] == 4, "every slash POST answered HTTP 200"
    assert result["answered"] == 4
    assert len(result["ack_ms"]) == len(result["answer_ms"]) == 4
    assert result["cold_answer_ms"] is not None
    assert result["score_runs_added"] == 0, "answers come from the stored scoring"
    for key in ("ack_p50_ms", "ack_p99_ms", "ack_max_ms", "answer_p50_ms", "answer_p95_ms"):
        assert result[key] is not None and result[key] >= 0
    assert result["ack_p50_ms"] <= result["ack_max_ms"]
    assert result["answer_p50_ms"] <= result["answer_max_ms"]
    assert isinstance(result["any_ack_over_3s"], bool)
