"""Every shipped report on the same lake, `loglake query` against DuckDB's `read_parquet`, in turn.

    .venv/bin/python benches/vs_duckdb.py target/profiling/loglake LAKE [ROUNDS] [DAY]

For each report and each range (the whole lake, and DAY when given): the median over ROUNDS
(default 3) of
- loglake: the wall time of `loglake query NAME --lake LAKE` (a fresh process: start-up, listing
  the lake, planning and running), and the query time its note gives;
- DuckDB: the time of `execute(...).fetchall()` in an open connection (no process start-up, so
  the comparison leans towards DuckDB), the report's SQL transpiled from Athena's dialect by
  sqlglot, `access_logs` read as `read_parquet(LAKE/access_logs/*/*/*.parquet, hive_partitioning)`.
Reports DuckDB cannot run as transpiled are marked so. Prints a Markdown table.
"""

import os
import re
import statistics
import subprocess
import sys
import time

import duckdb
import sqlglot

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def duckdb_sql(sql, lake):
    files = os.path.join(lake, "access_logs", "*", "*", "*.parquet").replace("'", "''")
    source = (f"read_parquet('{files}', hive_partitioning = true, "
              "hive_types = {'dt': VARCHAR, 'hour': INTEGER})")
    sql = sql.replace("FROM access_logs\n", f"FROM {source}\n")
    return sqlglot.transpile(sql, read="athena", write="duckdb")[0]


def loglake_run(binary, lake, name, day):
    args = [binary, "query", name, "--lake", lake, "--format", "csv"]
    if day:
        args += ["--from", day, "--to", day]
    started = time.perf_counter()
    run = subprocess.run(args, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    query_ms = int(re.search(r"rows in (\d+) ms", run.stderr).group(1))
    return wall, query_ms / 1000


def main():
    binary, lake = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    day = sys.argv[4] if len(sys.argv) > 4 else None
    names = sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, "queries", "reports")))
    db = duckdb.connect()
    ranges = [("whole lake", None)] + ([(day, day)] if day else [])
    print("| report | range | loglake wall | loglake query | DuckDB | loglake wall / DuckDB |")
    print("|---|---|---|---|---|---|")
    totals = {label: [0.0, 0.0] for label, _ in ranges}
    for name in names:
        with open(os.path.join(ROOT, "queries", "reports", name + ".sql")) as f:
            sql = f.read()
        try:
            translated = duckdb_sql(sql, lake)
        except sqlglot.errors.SqlglotError:
            translated = None
        for label, only in ranges:
            params = [only or "1970-01-01", only or "9999-12-31"]
            ours, theirs = [], []
            for _ in range(rounds):
                ours.append(loglake_run(binary, lake, name, only))
                if translated is not None:
                    try:
                        started = time.perf_counter()
                        db.execute(translated, params).fetchall()
                        theirs.append(time.perf_counter() - started)
                    except duckdb.Error:
                        translated = None
            wall = statistics.median(w for w, _ in ours)
            query = statistics.median(q for _, q in ours)
            if theirs and translated is not None:
                duck = statistics.median(theirs)
                totals[label][0] += wall
                totals[label][1] += duck
                print(f"| {name} | {label} | {wall:.3f} s | {query:.3f} s | {duck:.3f} s | "
                      f"{wall / duck:.2f}x |")
            else:
                print(f"| {name} | {label} | {wall:.3f} s | {query:.3f} s | not run as transpiled | |")
    for label, (ours, theirs) in totals.items():
        print(f"| **sum of those DuckDB ran** | {label} | {ours:.2f} s | | {theirs:.2f} s | "
              f"{ours / theirs:.2f}x |")


if __name__ == "__main__":
    main()
