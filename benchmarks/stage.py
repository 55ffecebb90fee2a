"""One benchmark stage in its own process, so each stage's peak memory is its own.

``python -m benchmarks.stage STAGE --db URL --data DIR --as-of DATE`` prints one JSON line:
``{"stage": ..., "seconds": ..., ...}``. :mod:`benchmarks.run` starts these and reads the
child's peak resident memory from the operating system.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

SCOPE = "enterprise"


def _sync(engine, args) -> dict:
    from expansion import pipeline
    from expansion.limits import load_limits

    started = time.perf_counter()
    report = pipeline.sync_folder(engine, args.data, source="files", rejects_path=None)
    seconds = time.perf_counter() - started
    rows = sum(report.portfolio.rows_read.values())
    return {
        "seconds": seconds,
        "rows": rows,
        "rows_per_second": rows / seconds,
        "chunk_rows": load_limits().chunk_rows,  # what sets the sync's memory
    }


def _score(engine, args) -> dict:
    from expansion import pipeline, store

    started = time.perf_counter()
    run_id = pipeline.score(engine, as_of=args.as_of, force=True)
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        run = conn.execute(
            store.ScoreRun.__table__.select().where(store.ScoreRun.__table__.c.id == run_id)
        ).one()
    return {
        "seconds": seconds,
        "accounts": run.accounts,
        "opportunities": run.opportunities,
        "accounts_per_second": run.accounts / seconds,
    }


def _find(engine, args) -> dict:
    from expansion import pipeline

    started = time.perf_counter()
    result = pipeline.find(engine, SCOPE, as_of=args.as_of)
    first = time.perf_counter() - started
    started = time.perf_counter()
    pipeline.find(engine, SCOPE, as_of=args.as_of)
    repeat = time.perf_counter() - started  # the same question: the shared answer
    pipeline._ANSWERS.clear()
    started = time.perf_counter()
    pipeline.find(engine, SCOPE, as_of=args.as_of)
    warm = time.perf_counter() - started  # the decoded run kept, the answer computed again
    tier1 = int((result.opportunities["tier"] == 1).sum())
    return {
        "seconds": first,
        "warm_seconds": warm,
        "repeat_seconds": repeat,
        "opportunities": len(result.opportunities),
        "tier1": tier1,
    }


def _playbook(engine, args) -> dict:
    from expansion import pipeline
    from expansion.playbook import render_playbook

    result = pipeline.find(engine, SCOPE, as_of=args.as_of)
    started = time.perf_counter()
    text = render_playbook(result, portfolio_name="Benchmark portfolio")
    return {"seconds": time.perf_counter() - started, "characters": len(text)}


def _digest(engine, args) -> dict:
    import dataclasses

    from bot import digest
    from bot.runtime import Runtime
    from bot.settings import Settings
    from expansion.store import DigestRun

    settings = Settings.from_env(http=False, token=False)
    settings = dataclasses.replace(settings, db_url=args.db, fixed_as_of=args.as_of)
    runtime = Runtime(engine=engine, settings=settings)
    run = DigestRun(team_id="", channel="CBENCH", period="2026-W47", scope=SCOPE, max_cards=25)
    started = time.perf_counter()
    messages, _ = digest.plan(runtime, run)
    return {"seconds": time.perf_counter() - started, "messages": len(messages)}


STAGES = {
    "sync": _sync,
    "score": _score,
    "find": _find,
    "playbook": _playbook,
    "digest": _digest,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--db", required=True)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    args = parser.parse_args(argv)

    from expansion import store

    engine = store.connect(args.db)
    try:
        out = STAGES[args.stage](engine, args)
    finally:
        engine.dispose()
    print(json.dumps({"stage": args.stage, **out}))


if __name__ == "__main__":
    main()
