"""One benchmark stage in its own process, so each stage's peak memory is its own.

``python -m benchmarks.stage STAGE --db URL --data DIR --as-of DATE`` prints one JSON line:
``{"stage": ..., "seconds": ..., ...}``. :mod:`benchmarks.run` starts these and reads the
child's peak resident memory from the operating system.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
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


#: A fresh process that only reads the stored run: pyarrow decodes every Parquet frame of
#: the latest scoring run into pandas frames (the physical floor of a whole-process ``find``).
#: pandas is imported first, as in ``find``: pyarrow's thread pool imported alone aborted at
#: exit about one run in ten here ("terminate called without an active exception").
_READ_RUN = """
import sys, pandas, pyarrow as pa, pyarrow.parquet as pq, sqlalchemy as sa
engine = sa.create_engine(sys.argv[1])
with engine.connect() as conn:
    run = conn.execute(sa.text("SELECT max(score_run_id) FROM score_frames")).scalar()
    frames = conn.execute(
        sa.text("SELECT data FROM score_frames WHERE score_run_id = :run"), {"run": run}
    ).scalars().all()
engine.dispose()
print(sum(len(pq.read_table(pa.BufferReader(d)).to_pandas()) for d in frames))
"""


def _expansion_command() -> list[str]:
    import shutil

    script = shutil.which("expansion", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "expansion"]


def _timed_process(command: list[str], runs: int, env: dict[str, str]) -> tuple[float, int]:
    """The median wall time of ``runs`` runs of ``command`` (after one warm-up run that fills
    the file cache), and the bytes it wrote to stdout."""
    times, size = [], 0
    for index in range(runs + 1):
        for attempt in range(3):  # a run killed by a signal at exit is run again
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, env=env)
            if done.returncode >= 0 or attempt == 2:
                break
        done.check_returncode()
        if index:
            times.append(time.perf_counter() - started)
        size = len(done.stdout)
    return statistics.median(times), size


def _find_cli(engine, args) -> dict:
    """``expansion find enterprise --format json`` as a whole process, output read and
    discarded, against the floor: a process that only decodes the stored run."""
    from expansion import pipeline

    pipeline.score(engine, as_of=args.as_of)  # scored already: the command only reads
    engine.dispose()
    command = [
        *_expansion_command(),
        "find",
        SCOPE,
        "--format",
        "json",
        "--db",
        args.db,
        "--as-of",
        args.as_of.isoformat(),
    ]
    # Compiled modules, as an installed package has them (pip compiles them; a checkout run
    # with PYTHONDONTWRITEBYTECODE=1 compiles the project's modules at every start, +0.2 s):
    # the warm-up run writes them to a folder of their own.
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        seconds, size = _timed_process(command, runs=3, env=env)
        floor, _ = _timed_process([sys.executable, "-c", _READ_RUN, args.db], runs=3, env=env)
    return {"seconds": seconds, "json_bytes": size, "floor_seconds": floor}


def _playbook(engine, args) -> dict:
    from expansion import pipeline
    from expansion.playbook import render_playbook

    result = pipeline.find(engine, SCOPE, as_of=args.as_of)
    started = time.perf_counter()
    text = render_playbook(result, portfolio_name="Benchmark portfolio")
    return {"seconds": time.perf_counter() - started, "characters": len(text)}


def _digest(engine, args) -> dict:
    import dataclasses

    from bot import digest_post
    from bot.runtime import Runtime
    from bot.settings import Settings
    from expansion.store import DigestRun

    settings = Settings.from_env(http=False, token=False)
    settings = dataclasses.replace(settings, db_url=args.db, fixed_as_of=args.as_of)
    runtime = Runtime(engine=engine, settings=settings)
    run = DigestRun(team_id="", channel="CBENCH", period="2026-W47", scope=SCOPE, max_cards=25)
    started = time.perf_counter()
    messages, _ = digest_post.plan(runtime, run)
    return {"seconds": time.perf_counter() - started, "messages": len(messages)}


STAGES = {
    "sync": _sync,
    "score": _score,
    "find": _find,
    "find-cli": _find_cli,
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
