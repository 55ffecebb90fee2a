"""Scoring runs and their results: each run's result frames kept as Parquet (``score_frames``),
or as rows when Parquet cannot hold them, older runs pruned, and read back for find.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from datetime import date

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from ..frames import python_objects
from .parquet import read_parquet, to_parquet
from .reads import read_frame
from .schema import (
    BENCHMARKS,
    EVIDENCE,
    FINDING_LISTS,
    FINDINGS,
    OPPORTUNITIES,
    PROFILE_COLUMNS,
    PROFILES,
    RESULT_TABLES,
    SCORE_FRAMES,
    ScoreRun,
)
from .writes import insert_frame, write_errors

KEEP_SCORE_RUNS = 3


def _json_lines(frame: pd.DataFrame) -> list[str]:
    """Each row as a JSON object (pandas' C encoder, dates as ISO strings)."""
    if frame.empty:
        return []
    return frame.to_json(
        orient="records", lines=True, date_format="iso", date_unit="s"
    ).splitlines()


def save_analysis(engine: sa.Engine, analysis, *, data_version: int) -> int:
    """Persist one scoring run; returns its id. Older runs beyond the last few are pruned.

    A run's result frames are kept once, as Parquet (``score_frames``), which is what find
    reads. Only a run whose frames Parquet cannot hold (a column mixing numbers and text)
    is written as rows instead (opportunities, evidence, profiles and lists with their
    details as JSON, benchmarks), the format runs scored before score_frames used. Writing
    both copies of a run, and pruning both, took half of its scoring time.
    """
    p = analysis.profiles.reset_index(drop=True)
    run = ScoreRun(
        as_of=analysis.as_of.date(),
        data_version=data_version,
        config_fingerprint=analysis.config.fingerprint,
        accounts=len(p),
        opportunities=len(analysis.opportunities),
        volume_metric=analysis.volume_metric,
        status="succeeded",
    )
    return save_run(
        engine,
        run,
        to_parquet(result_frames(analysis, p)),
        rows=lambda conn, run_id: _insert_result_rows(conn, analysis, p, run_id),
    )


def save_run(
    engine: sa.Engine,
    run: ScoreRun,
    frames: pd.DataFrame | None,
    *,
    rows: Callable[[sa.Connection, int], None] | None,
) -> int:
    """The run record and its Parquet frames (or, when ``frames`` is None, its ``rows``) in one
    transaction; older runs pruned.

    Raises:
        StorageError: the database refused the write (a full disk...).
    """
    with write_errors(engine, "writing the scoring results failed"), engine.begin() as conn:
        run_id = conn.execute(
            sa.insert(ScoreRun.__table__).values(**run.model_dump(exclude={"id"}))
        ).inserted_primary_key[0]
        if frames is not None:
            insert_frame(conn, SCORE_FRAMES, frames.assign(score_run_id=run_id))
        else:
            assert rows is not None
            rows(conn, run_id)
        _prune(conn)
    return int(run_id)


def _insert_result_rows(conn: sa.Connection, analysis, profiles: pd.DataFrame, run_id) -> None:
    """One run's results as rows, each profile's and list entry's details as JSON."""
    extra = profiles.drop(
        columns=[c for c in PROFILE_COLUMNS if c != "account_id"], errors="ignore"
    )
    rows = profiles[[c for c in PROFILE_COLUMNS if c in profiles.columns]].assign(
        profile=_json_lines(extra)
    )
    findings = [
        pd.DataFrame(
            {
                "list_name": name,
                "account_id": frame.get("account_id"),
                "account_name": frame.get("account_name"),
                "payload": _json_lines(frame),
            }
        )
        for name in FINDING_LISTS
        if not (frame := getattr(analysis, name).reset_index(drop=True)).empty
    ]
    insert_frame(conn, OPPORTUNITIES, analysis.opportunities.assign(score_run_id=run_id))
    insert_frame(conn, EVIDENCE, analysis.evidence.assign(score_run_id=run_id))
    insert_frame(conn, PROFILES, rows.assign(score_run_id=run_id))
    insert_frame(conn, BENCHMARKS, analysis.benchmarks.assign(score_run_id=run_id))
    if findings:
        insert_frame(
            conn, FINDINGS, pd.concat(findings, ignore_index=True).assign(score_run_id=run_id)
        )


def result_frames(analysis, profiles: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The result frames find reads, by their name in score_frames."""
    return {
        "opportunities": analysis.opportunities,
        "evidence": analysis.evidence,
        "profiles": profiles,
        "benchmarks": analysis.benchmarks,
        **{f"list:{name}": getattr(analysis, name) for name in FINDING_LISTS},
    }


def _prune(conn: sa.Connection) -> None:
    runs = ScoreRun.__table__
    keep = sa.select(runs.c.id).order_by(runs.c.id.desc()).limit(KEEP_SCORE_RUNS).scalar_subquery()
    old = [r for (r,) in conn.execute(sa.select(runs.c.id).where(runs.c.id.not_in(keep)))]
    if not old:
        return
    for table in RESULT_TABLES:
        conn.execute(table.delete().where(table.c.score_run_id.in_(old)))
    conn.execute(runs.delete().where(runs.c.id.in_(old)))


def find_score_run(
    engine: sa.Engine, *, as_of: date, data_version: int, fingerprint: str
) -> ScoreRun | None:
    """The latest finished scoring of this data, date and configuration, if any."""
    runs = ScoreRun.__table__
    query = (
        sa.select(runs)
        .where(
            runs.c.as_of == as_of,
            runs.c.data_version == data_version,
            runs.c.config_fingerprint == fingerprint,
            runs.c.status == "succeeded",
        )
        .order_by(runs.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return ScoreRun(**row) if row else None


def read_results(
    engine: sa.Engine,
    run_id: int,
    *,
    accounts: Callable[[pd.DataFrame], Iterable[str]] | None = None,
) -> dict:
    """Stored results of one scoring run: opportunities, evidence, profiles (every profile
    figure as a column), benchmarks, and ``lists`` (activation, stabilize_first...) by name.

    ``accounts`` (given the profiles, the account ids wanted) decodes only those accounts'
    opportunities, evidence and list rows (and the lists' portfolio-level rows): a one-shot
    ``expansion find enterprise`` then turns a sixth of a 100k-account run into pandas and
    Python values instead of all of it. Profiles and benchmarks are always whole.
    """
    frames = SCORE_FRAMES
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(frames.c.name, frames.c.data).where(frames.c.score_run_id == run_id)
        ).all()
    if stored and accounts is not None:
        return _read_results_of(dict(stored), accounts)
    if stored:
        out = {name: read_parquet(data) for name, data in stored}
        out["lists"] = {name: out.pop(f"list:{name}") for name in FINDING_LISTS}
        return out
    out = _read_result_rows(engine, run_id)
    out["profiles"] = _python_strings(profiles_frame(out["profiles"]))
    out["lists"] = {
        name: _python_strings(findings_frame(out["findings"], name)) for name in FINDING_LISTS
    }
    return out


def _read_results_of(
    frames: dict[str, bytes], accounts: Callable[[pd.DataFrame], Iterable[str]]
) -> dict:
    """:func:`read_results` of only some accounts' rows (see there)."""
    import pyarrow.compute as pc

    profiles = read_parquet(frames["profiles"])
    wanted = pa.array(sorted(set(accounts(profiles))), type=pa.string())

    def of_accounts(table: pa.Table) -> pa.Array:
        if not table.num_rows:
            return pa.array([], type=pa.bool_())
        return pc.is_in(table["account_id"], value_set=wanted)

    def of_accounts_or_portfolio(table: pa.Table) -> pa.Array:
        if "account_id" not in table.column_names or not table.num_rows:
            return pa.array([True] * table.num_rows, type=pa.bool_())
        column = table["account_id"]
        return pc.or_kleene(pc.is_in(column, value_set=wanted), pc.is_null(column))

    opportunities = read_parquet(frames["opportunities"], of_accounts)
    ids = pa.array(opportunities["opportunity_id"].tolist(), type=pa.string())
    out = {
        "profiles": profiles,
        "opportunities": opportunities,
        "evidence": read_parquet(
            frames["evidence"],
            lambda table: (
                pc.is_in(table["opportunity_id"], value_set=ids)
                if table.num_rows
                else pa.array([], type=pa.bool_())
            ),
        ),
        "benchmarks": read_parquet(frames["benchmarks"]),
        "lists": {
            name: read_parquet(frames[f"list:{name}"], of_accounts_or_portfolio)
            for name in FINDING_LISTS
        },
    }
    return out


def _python_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as Python objects: Arrow-backed strings' ``isin`` converts its values one
    by one under the GIL, which serialises concurrent slash commands."""
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.StringDtype):
            frame[column] = pd.Series(
                python_objects(frame[column]), index=frame.index, dtype=object
            )
    return frame


def _read_result_rows(engine: sa.Engine, run_id: int) -> dict[str, pd.DataFrame]:
    """Results of a run scored before score_frames existed, from their rows."""
    out: dict[str, pd.DataFrame] = {}
    with engine.connect() as conn:
        for key, table in (
            ("opportunities", OPPORTUNITIES),
            ("profiles", PROFILES),
            ("findings", FINDINGS),
        ):
            query = sa.select(table).where(table.c.score_run_id == run_id)
            out[key] = read_frame(conn, query).drop(columns=["id", "score_run_id"])
        ev = EVIDENCE
        query = sa.select(ev.c.opportunity_id, ev.c.seq, ev.c.evidence).where(
            ev.c.score_run_id == run_id
        )
        out["evidence"] = read_frame(conn, query.order_by(ev.c.opportunity_id, ev.c.seq))
        bench = BENCHMARKS
        out["benchmarks"] = read_frame(
            conn,
            sa.select(
                bench.c.segment,
                bench.c.dimension,
                bench.c.average,
                bench.c.top_quartile,
                bench.c.peers,
            ).where(bench.c.score_run_id == run_id),
        )
    return out


def _json_frame(lines: pd.Series) -> pd.DataFrame:
    """JSON objects, one per element, as a DataFrame: pandas' C reader over all of them at
    once instead of one json.loads per row (100k account profiles in a fraction of the time)."""
    if lines.empty:
        return pd.DataFrame()
    # pandas 3 converts nothing with dtype=False; pandas 2 also needs dates left alone.
    older = {"convert_dates": False} if int(pd.__version__.split(".")[0]) < 3 else {}
    frame = pd.read_json(io.StringIO("\n".join(lines)), lines=True, dtype=False, **older)
    frame.index = lines.index
    return frame


def findings_frame(findings: pd.DataFrame, list_name: str) -> pd.DataFrame:
    """Decode one stored list (activation, stabilize_first...) back into a DataFrame."""
    rows = findings[findings["list_name"] == list_name]["payload"]
    return _json_frame(rows).reset_index(drop=True)


def profiles_frame(profiles: pd.DataFrame) -> pd.DataFrame:
    """Stored profiles with their JSON details expanded into columns."""
    if profiles.empty:
        return profiles
    extra = _json_frame(profiles["profile"])
    return pd.concat(
        [profiles.drop(columns="profile"), extra.drop(columns=["account_id"], errors="ignore")],
        axis=1,
    )


def score_run_ids(engine: sa.Engine) -> list[int]:
    """The ids of the kept, finished scoring runs, oldest first."""
    runs = ScoreRun.__table__
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(runs.c.id).where(runs.c.status == "succeeded").order_by(runs.c.id)
        )
        return [int(r) for (r,) in rows]


def run_tiers(engine: sa.Engine, run_id: int) -> pd.DataFrame:
    """Each opportunity of scoring run ``run_id`` with its tier (``opportunity_id``, ``tier``),
    read without decoding the rest of the run."""
    import pyarrow.parquet as pq

    frames = SCORE_FRAMES
    with engine.connect() as conn:
        data = conn.execute(
            sa.select(frames.c.data).where(
                frames.c.score_run_id == run_id, frames.c.name == "opportunities"
            )
        ).scalar()
        if data is None:  # a run stored as rows (see save_analysis)
            return read_frame(
                conn,
                sa.select(OPPORTUNITIES.c.opportunity_id, OPPORTUNITIES.c.tier).where(
                    OPPORTUNITIES.c.score_run_id == run_id
                ),
            )
    table = pq.read_table(pa.BufferReader(data), columns=["opportunity_id", "tier"])
    return table.to_pandas()
