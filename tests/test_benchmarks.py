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
