"""Checks the shipped SQL in queries/ with tools that share no code with loglake.

1. Every file parses with a real Athena/Trino parser (sqlglot, read="athena"), and so does every
   panel's SQL of the Grafana dashboard (with Grafana's range macros as dates).
2. What the parser lets through but Athena would refuse, and DataFusion runs: every function the
   reports, views and panels call is one of Trino's (Athena engine 3 is Trino), spelled as Trino
   spells it, and none of DataFusion's own syntax (`::`, ILIKE, LIMIT before OFFSET) is used.
   (sqlglot alone reads `date_part(...)` and `median(...)` without a complaint, and silently
   rewrites `to_char`, `nvl` and `x::int` when it writes Trino SQL.)
3. A lake is built from the given logs with `loglake ingest`; every report runs on it through
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


# Trino's functions by name (https://trino.io/docs/current/functions/list.html), the ones a
# report may reasonably call; a function missing here is added after checking it there, and that
# DataFusion runs it too (check_results runs every report).
TRINO_FUNCTIONS = set("""
abs approx_distinct approx_most_frequent approx_percentile approx_set arbitrary array_agg
array_distinct array_join array_sort avg bool_and bool_or cardinality cast cbrt ceil ceiling chr
coalesce concat concat_ws contains corr count count_if covar_pop covar_samp cume_dist
current_date current_timestamp date date_add date_diff date_format date_parse date_trunc day
day_of_week day_of_year dense_rank element_at every exp first_value floor format format_datetime
from_iso8601_date from_iso8601_timestamp from_unixtime from_utf8 geometric_mean greatest hamming_distance
histogram hour human_readable_seconds if is_finite is_nan json_array_contains json_array_get
json_array_length json_extract json_extract_scalar json_format json_parse json_size lag last_value
lead least length levenshtein_distance listagg ln log10 log2 lower lpad ltrim map_agg max max_by
millisecond min min_by minute mod month now nth_value ntile nullif parse_datetime percent_rank
position pow power quarter rank regexp_count regexp_extract regexp_extract_all regexp_like
regexp_position regexp_replace regexp_split replace reverse round row_number rpad rtrim second
sequence sign slice split split_part sqrt starts_with stddev stddev_pop stddev_samp strpos substr
substring sum to_iso8601 to_unixtime to_utf8 trim truncate try try_cast typeof upper url_decode
url_encode url_extract_host url_extract_parameter url_extract_path url_extract_query var_pop
var_samp variance week width_bucket year
""".split())


def trino_dialect_errors(sql):
    """What in `sql` (a SELECT) Athena would refuse though sqlglot parses it: calls to functions
    that are not Trino's, and DataFusion's own syntax."""
    from sqlglot.dialects.athena import Athena
    from sqlglot.tokens import TokenType

    errors = []
    tokens = Athena().tokenize(sql)
    for token, after in zip(tokens, tokens[1:]):
        # (keywords before a parenthesis, AND/OVER/FILTER/IN..., are tokens of their own type)
        if token.token_type == TokenType.VAR and after.token_type == TokenType.L_PAREN:
            if token.text.lower() not in TRINO_FUNCTIONS:
                errors.append(f"{token.text}() is not a Trino function (line {token.line})")
    for token in tokens:
        if token.token_type == TokenType.DCOLON:
            errors.append(f"`::` casts are not Trino SQL (line {token.line}): use CAST")
        if token.token_type == TokenType.ILIKE:
            errors.append(f"ILIKE is not Trino SQL (line {token.line}): use lower(x) LIKE")
    kinds = [token.token_type for token in tokens]
    for at, kind in enumerate(kinds):
        if kind == TokenType.LIMIT and TokenType.OFFSET in kinds[at + 1:at + 3]:
            errors.append(f"LIMIT before OFFSET (line {tokens[at].line}): Trino takes OFFSET first")
    return errors


def check_trino_dialect():
    failures = 0
    sources = [(os.path.relpath(path, ROOT), open(path).read())
               for path in sorted(glob.glob(os.path.join(ROOT, "queries", "*", "*.sql")))
               if "/ddl/" not in path or "CREATE VIEW" in open(path).read()]
    panels = json.load(open(os.path.join(ROOT, "queries", "grafana", "loglake-athena.json")))["panels"]
    sources += [(f"Grafana panel {p['title']}", p["targets"][0]["rawSQL"]) for p in panels]
    for name, sql in sources:
        for error in trino_dialect_errors(sql):
            failures += 1
            print(f"FAIL {name}: {error}")
    # The check itself: SQL DataFusion runs and sqlglot parses as Athena, which Athena refuses.
    refused = ["SELECT date_part('hour', ts) FROM access_logs",
               "SELECT to_char(ts, '%Y') FROM access_logs",
               "SELECT median(bytes_sent) FROM access_logs",
               "SELECT nvl(path, '') FROM access_logs",
               "SELECT status::int FROM access_logs",
               "SELECT path FROM access_logs WHERE path ILIKE '/a%'",
               "SELECT path FROM access_logs LIMIT 5 OFFSET 2"]
    for sql in refused:
        sqlglot.parse_one(sql, read="athena")
        if not trino_dialect_errors(sql):
            failures += 1
            print(f"FAIL the dialect check lets through: {sql}")
    print(f"{len(sources)} SQL sources call only Trino functions in Trino syntax "
          f"({len(refused)} DataFusion-only statements refused)")
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
    failures = check_parse() + check_grafana() + check_trino_dialect() + check_results(binary, logs) + check_unique_view(binary, logs[0])
    if failures:
        print(f"{failures} query checks failed")
        sys.exit(1)
    print("all query checks passed")


if __name__ == "__main__":
    main()
