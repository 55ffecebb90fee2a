"""The warehouse pushdown benchmark: ``python -m benchmarks.warehouse --url postgresql+psycopg://...``

A PostgreSQL database stands in for the warehouse. In a schema of its own (dropped at the end)
it writes daily usage rows (``--accounts`` x ``--metrics`` x ``--days``: 10,000 x 3 x 365 =
11M rows by default) and an entitlements table, then measures two ways of getting the
contract's monthly ``usage`` table out of it:

- **pushdown**: the ``sql`` source's ``[sources.usage_events]`` query (the monthly aggregate
  runs in the warehouse; :mod:`expansion.connectors.warehouse`), through the connector's pull;
- **raw rows**: ``SELECT account_id, metric, day, value`` of every daily row, streamed with a
  server-side cursor and thrown away (what any aggregation in this process would have to pull
  first; nothing is kept, so its memory is not the figure).

Both go through a TCP proxy that counts the bytes the server sends: the bytes that cross the
network. It prints one JSON line and the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import threading
import time
import uuid

import sqlalchemy as sa
from sqlalchemy.pool import NullPool


class CountingProxy:
    """A TCP proxy to ``host:port`` on a local port, counting the bytes the server sends."""

    def __init__(self, host: str, port: int):
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.from_server = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, count: bool) -> None:
        try:
            while data := source.recv(1 << 16):
                if count:
                    with self._lock:
                        self.from_server += len(data)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def reset(self) -> int:
        with self._lock:
            counted, self.from_server = self.from_server, 0
        return counted

    def close(self) -> None:
        self.listener.close()


def build(url: str, schema: str, accounts: int, metrics: int, days: int) -> float:
    """The daily rows and entitlements, written by the database itself (generate_series)."""
    started = time.perf_counter()
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(
            sa.text(
                f'CREATE TABLE "{schema}".usage_daily (account_id text, metric text, day date, '
                "value double precision)"
            )
        )
        conn.execute(
            sa.text(
                f'INSERT INTO "{schema}".usage_daily '
                "SELECT 'ACC-' || lpad(a::text, 7, '0'), 'metric_' || m, "
                "date '2025-11-01' + d, floor(random() * 1000) "
                "FROM generate_series(1, :accounts) a, generate_series(1, :metrics) m, "
                "generate_series(0, :days - 1) d"
            ),
            {"accounts": accounts, "metrics": metrics, "days": days},
        )
        conn.execute(
            sa.text(
                f'CREATE TABLE "{schema}".entitlements AS '
                "SELECT 'ACC-' || lpad(a::text, 7, '0') AS account_id, 'metric_' || m AS metric, "
                "50000.0::double precision AS limit_value "
                "FROM generate_series(1, :accounts) a, generate_series(1, :metrics) m"
            ),
            {"accounts": accounts, "metrics": metrics},
        )
    with engine.connect() as conn:
        conn.execute(sa.text(f'ANALYZE "{schema}".usage_daily'))
        conn.commit()
    engine.dispose()
    return time.perf_counter() - started


def pushdown(url: str, schema: str) -> tuple[float, int]:
    from expansion.connectors import SourceConfig, connector_for

    config = SourceConfig(
        "warehouse",
        "sql",
        {
            "usage_events": {
                "table": f"{schema}.usage_daily",
                "aggregate_by_metric": {"metric_1": "max"},
                "entitlements": f"{schema}.entitlements",
            }
        },
    )
    started = time.perf_counter()
    pulled = connector_for(config, {"WAREHOUSE_URL": url}).pull(None)
    return time.perf_counter() - started, len(pulled.tables["usage"].frame)


def raw_rows(url: str, schema: str) -> tuple[float, int]:
    engine = sa.create_engine(url, poolclass=NullPool)
    rows = 0
    started = time.perf_counter()
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=100_000).execute(
            sa.text(f'SELECT account_id, metric, day, value FROM "{schema}".usage_daily')
        )
        for part in result.partitions():
            rows += len(part)
    engine.dispose()
    return time.perf_counter() - started, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("EXPANSION_TEST_POSTGRES_URL"))
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=3)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("give --url (a PostgreSQL SQLAlchemy URL) or set EXPANSION_TEST_POSTGRES_URL")
    from benchmarks.run import cpu_ticks, quietness

    ticks, load = cpu_ticks(), os.getloadavg()[0]
    parsed = sa.engine.make_url(args.url)
    schema = f"bench_wh_{uuid.uuid4().hex[:10]}"
    proxy = CountingProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    via_proxy = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    out: dict = {"daily_rows": args.accounts * args.metrics * args.days}
    try:
        out["build_seconds"] = build(args.url, schema, args.accounts, args.metrics, args.days)
        proxy.reset()
        out["pushdown_seconds"], out["pushdown_rows"] = pushdown(via_proxy, schema)
        out["pushdown_bytes"] = proxy.reset()
        out["raw_seconds"], out["raw_rows"] = raw_rows(via_proxy, schema)
        out["raw_bytes"] = proxy.reset()
    finally:
        proxy.close()
        engine = sa.create_engine(args.url, poolclass=NullPool)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
    out["bytes_ratio"] = out["raw_bytes"] / max(out["pushdown_bytes"], 1)
    out["machine"] = quietness(ticks, load) + f"; load average at the end {os.getloadavg()[0]:.2f}"
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
