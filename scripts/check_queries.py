"""Checks the shipped SQL in queries/ with tools that share no code with loglake.

1. Every file parses with a real Athena/Trino parser (sqlglot, read="athena"), and so does every
   panel's SQL of the Grafana dashboard (with Grafana's range macros as dates).
2. A lake is built from the given logs with `loglake ingest`; every report runs on it through
   `loglake query NAME --format json` (DataFusion), and the key reports are compared with the
   same numbers computed by DuckDB over the same Parquet with SQL written here.

usage: check_queries.py LOGLAKE_BINARY LOG...
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import duckdb
import sqlglot

ROOT = os.path.join(os.path.dirname(__file__), "..")


def check_parse():
    failures = 0
    files = sorted(glob.glob(os.path.join(ROOT, "queries", "*", "*.sql")))
    for path in files:
        sql = open(path).read()
        try:
            statements = sqlglot.parse(sql, read="athena")
            assert len(statements) == 1, f"{len(statements)} statements"
            kind = type(statements[0]).__name__
            expected = "Create" if "/ddl/" in path else "Select"
            assert kind == expected, f"parsed as {kind}, expected {expected}"
        except Exception as error:  # noqa: BLE001 - report every file
            failures += 1
            print(f"FAIL parse {os.path.relpath(path, ROOT)}: {error}")
    print(f"{len(files) - failures} of {len(files)} SQL files parse as Athena SQL")
    return failures


def check_grafana():
    failures = 0
    path = os.path.join(ROOT, "queries", "grafana", "loglake-athena.json")
    panels = json.load(open(path))["panels"]
    for panel in panels:
        sql = panel["targets"][0]["rawSQL"]
        sql = sql.replace("${__from:date:YYYY-MM-DD}", "2026-11-01")
        sql = sql.replace("${__to:date:YYYY-MM-DD}", "2026-11-30")
        try:
            assert "${__" not in sql, "a Grafana macro left"
            statements = sqlglot.parse(sql, read="athena")
            assert len(statements) == 1 and type(statements[0]).__name__ == "Select"
        except Exception as error:  # noqa: BLE001 - report every panel
            failures += 1
            print(f"FAIL Grafana panel {panel['title']}: {error}")
    print(f"{len(panels) - failures} of {len(panels)} Grafana panels parse as Athena SQL")
    return failures


def query(binary, lake, name):
    run = subprocess.run(
        [binary, "query", name, "--lake", lake, "--format", "json"],
        capture_output=True, text=True)
    if run.returncode != 0:
        raise AssertionError(f"{name}: exit {run.returncode}: {run.stderr.strip()}")
    return json.loads(run.stdout)


def check_results(binary, logs):
    failures = 0
    with tempfile.TemporaryDirectory() as lake:
        subprocess.run([binary, "ingest", "--out", lake, *logs], check=True,
                       capture_output=True)
        db = duckdb.connect()
        files = os.path.join(lake, "access_logs", "*", "*", "*.parquet").replace("'", "''")
        db.execute(
            f"CREATE VIEW logs AS SELECT * FROM read_parquet('{files}', hive_partitioning = true)")

        def truth(sql):
            return db.execute(sql).fetchall()

        checks = {
            "traffic_by_hour": lambda rows: compare(
                [(r["dt"], r["hour"], r["requests"], r["bytes"]) for r in rows],
                truth("SELECT CAST(dt AS VARCHAR), CAST(hour AS INT), count(*), coalesce(sum(bytes_sent), 0) "
                      "FROM logs GROUP BY ALL ORDER BY 1, 2"))
            and visitors_close(rows, truth(
                "SELECT count(DISTINCT client_ip || '|' || coalesce(user_agent, '')) FROM logs "
                "GROUP BY dt, hour ORDER BY dt, hour")),
            "status_by_hour": lambda rows: compare(
                [(r["dt"], r["hour"], r["status_class"], r["requests"]) for r in rows],
                truth("SELECT CAST(dt AS VARCHAR), CAST(hour AS INT), CAST(status // 100 AS VARCHAR) || 'xx', count(*) "
                      "FROM logs GROUP BY ALL ORDER BY 1, 2, 3")),
            "top_paths": lambda rows: compare(
                [(r["path"], r["requests"]) for r in rows],
                truth("SELECT path, count(*) FROM logs WHERE path IS NOT NULL "
                      "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50")),
            "top_404_paths": lambda rows: compare(
                [(r["path"], r["requests"]) for r in rows],
                truth("SELECT path, count(*) FROM logs WHERE status = 404 AND path IS NOT NULL "
                      "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50")),
            "browsers": lambda rows: compare(
                [(r["ua_name"], r["requests"]) for r in rows],
                truth("SELECT ua_name, count(*) FROM logs GROUP BY 1 ORDER BY 2 DESC, 1")),
            "bots": lambda rows: compare(
                [(r["bot"], r["requests"]) for r in rows],
                truth("SELECT coalesce(bot_name, ua_name), count(*) FROM logs WHERE is_bot "
                      "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50")),
            "countries": lambda rows: compare(
                [(r["client_country"], r["requests"]) for r in rows],
                truth("SELECT coalesce(country, '-'), count(*) FROM logs GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50")),
            "traffic_by_day": lambda rows: compare(
                [(r["dt"], r["requests"], r["page_requests"], r["bytes"]) for r in rows],
                truth("SELECT CAST(dt AS VARCHAR), count(*), count(*) FILTER (WHERE NOT coalesce(is_static, false)), "
                      "coalesce(sum(bytes_sent), 0) FROM logs GROUP BY ALL ORDER BY 1")),
            "bot_share": lambda rows: compare(
                [(r["is_bot"], r["requests"], r["bytes"]) for r in rows],
                truth("SELECT is_bot, count(*), coalesce(sum(bytes_sent), 0) FROM logs GROUP BY 1 ORDER BY 1")),
            "top_clients": lambda rows: compare(
                [(r["client_ip"], r["requests"]) for r in rows],
                truth("SELECT client_ip, count(*) FROM logs GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50")),
        }
        listing = subprocess.run([binary, "query", "--list"], capture_output=True, text=True,
                                 check=True).stdout
        names = [line.split()[0] for line in listing.splitlines() if line.strip()]
        for name in names:
            try:
                rows = query(binary, lake, name)
                assert isinstance(rows, list), "not a JSON array"
                check = checks.get(name)
                if check is not None:
                    assert rows, "no rows"
                    assert check(rows), "differs from DuckDB"
                print(f"ok {name}: {len(rows)} rows" + (" (= DuckDB)" if check else ""))
            except AssertionError as error:
                failures += 1
                print(f"FAIL {name}: {error}")
        missing = set(checks) - set(names)
        if missing:
            failures += 1
            print(f"FAIL reports missing from --list: {sorted(missing)}")
    return failures


def compare(got, want):
    got = [tuple(row) for row in got]
    want = [tuple(row) for row in want]
    if got != want:
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                print(f"  first difference at row {i}: loglake {g} DuckDB {w}")
                break
        else:
            print(f"  loglake has {len(got)} rows, DuckDB {len(want)}")
        return False
    return True


def visitors_close(rows, exact):
    """approx_distinct is HyperLogLog (2.3% standard error): within 10% of the exact count."""
    for row, (count,) in zip(rows, exact):
        if abs(row["visitors"] - count) > max(2, 0.1 * count):
            print(f"  visitors {row['visitors']} vs exact {count} at {row['dt']} {row['hour']}")
            return False
    return len(rows) == len(exact)


def check_unique_view(binary, log):
    """queries/ddl/access_logs_unique.sql, run by DuckDB over a lake in which one Parquet file
    was delivered twice (as Firehose writes a redelivered Kinesis record's rows again): the view
    has the rows once."""
    with tempfile.TemporaryDirectory() as lake:
        subprocess.run([binary, "ingest", "--out", lake, log], check=True, capture_output=True)
        files = sorted(glob.glob(os.path.join(lake, "access_logs", "*", "*", "*.parquet")))
        copy = files[len(files) // 2]
        shutil.copy(copy, copy.replace(".parquet", "-redelivered.parquet"))
        db = duckdb.connect()
        pattern = os.path.join(lake, "access_logs", "*", "*", "*.parquet").replace("'", "''")
        db.execute(f"CREATE VIEW access_logs AS SELECT * FROM "
                   f"read_parquet('{pattern}', hive_partitioning = true)")
        db.execute(open(os.path.join(ROOT, "queries", "ddl", "access_logs_unique.sql")).read())
        copied = db.execute(f"SELECT count(*) FROM read_parquet('{copy}')").fetchone()[0]
        (rows,) = db.execute("SELECT count(*) FROM access_logs").fetchone()
        (unique,) = db.execute("SELECT count(*) FROM access_logs_unique").fetchone()
        (lines,) = db.execute(
            "SELECT count(*) FROM (SELECT DISTINCT source, source_line FROM access_logs)").fetchone()
        columns = [c[0] for c in db.execute("SELECT * FROM access_logs_unique LIMIT 0").description]
    if copied == 0 or rows != unique + copied or unique != lines or "delivery" in columns:
        print(f"FAIL access_logs_unique: {rows} rows with {copied} copied, {unique} in the view, "
              f"{lines} distinct lines, columns {columns}")
        return 1
    print(f"ok access_logs_unique: {rows} rows, {copied} of them a second delivery, "
          f"{unique} in the view (= distinct source and source_line)")
    return 0


def main():
    binary, logs = sys.argv[1], sys.argv[2:]
    failures = check_parse() + check_grafana() + check_results(binary, logs) + check_unique_view(binary, logs[0])
    if failures:
        print(f"{failures} query checks failed")
        sys.exit(1)
    print("all query checks passed")


if __name__ == "__main__":
    main()
