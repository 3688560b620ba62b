"""Checks a lake written by `loglake ingest` with tools that share no code with it.

For each log: parse it here with a plain regular expression (the Apache/nginx combined and
common layouts), ingest it with loglake, read the Parquet back with DuckDB, and compare row
count, status histogram, time range, partition values and the reconciliation totals.

For ALB logs (after --alb): split each line's fields here, and compare the target status and
trace id of every row with what DuckDB reads from the lake's `extra_fields` JSON (ingested with
--extra-fields).

usage: check_lake.py LOGLAKE_BINARY LOG... [--alb ALB_LOG...]
"""

import collections
import datetime
import glob
import json
import re
import subprocess
import sys
import tempfile

import duckdb

LINE = re.compile(
    rb'^(?:\S+ )?(?:\S+) \S+ \S+ \[(\d{2})/(\w{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})\] '
    rb'"(?:[^"\\]|\\.)*" (\d{3}) (?:\d+|-)(?: "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*")?(?: .*)?$'
)
MONTHS = {m: i + 1 for i, m in enumerate(
    [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"])}


def expected(path):
    """Lines, and for the lines that match: status counts and UTC epoch microseconds."""
    lines, statuses, times = 0, collections.Counter(), []
    with open(path, "rb") as f:
        for raw in f:
            lines += 1
            m = LINE.match(raw.rstrip(b"\r\n"))
            if not m:
                continue
            d, mon, y, hh, mm, ss, sign, oh, om, status = m.groups()
            offset = datetime.timedelta(hours=int(oh), minutes=int(om))
            local = datetime.datetime(int(y), MONTHS[mon], int(d), int(hh), int(mm), int(ss),
                                      tzinfo=datetime.timezone.utc)
            utc = local - offset if sign == b"+" else local + offset
            statuses[int(status)] += 1
            times.append(int(utc.timestamp()) * 1_000_000)
    return lines, statuses, times


def check(binary, log):
    lines, statuses, times = expected(log)
    with tempfile.TemporaryDirectory() as out:
        run = subprocess.run([binary, "ingest", "--json", "--out", out, log],
                             capture_output=True, check=True)
        summary = json.loads(run.stdout)
        assert summary["lines_in"] == lines, (summary, lines)
        assert summary["lines_in"] == summary["rows_out"] + summary["rejected"], summary
        assert summary["rows_out"] == len(times), (summary["rows_out"], len(times))

        db = duckdb.connect()
        db.execute(f"""
            CREATE VIEW access_logs AS SELECT * FROM read_parquet(
                '{out}/access_logs/*/*/*.parquet', hive_partitioning = true)""")
        count, min_ts, max_ts, misplaced = db.execute("""
            SELECT count(*), min(epoch_us(ts)), max(epoch_us(ts)),
                   count(*) FILTER (WHERE strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d') <> dt
                                       OR hour(ts AT TIME ZONE 'UTC') <> hour)
            FROM access_logs""").fetchone()
        assert count == len(times), (count, len(times))
        assert (min_ts, max_ts) == (min(times), max(times)), ((min_ts, max_ts), (min(times), max(times)))
        assert misplaced == 0, f"{misplaced} rows in the wrong partition"
        blank_agents = db.execute("""
            SELECT count(*) FROM access_logs
            WHERE ua_name = '' OR ua_category = '' OR ua_os = ''""").fetchone()[0]
        assert blank_agents == 0, f"{blank_agents} rows with blank user-agent fields (want UNKNOWN)"
        lake_statuses = dict(db.execute(
            "SELECT status, count(*) FROM access_logs GROUP BY status").fetchall())
        assert lake_statuses == dict(statuses), (lake_statuses, dict(statuses))
        rejects = db.execute(
            f"SELECT count(*) FROM read_json_auto('{out}/rejects/*.ndjson')").fetchone()[0] \
            if summary["rejected"] else 0
        assert rejects == summary["rejected"], (rejects, summary["rejected"])
    print(f"ok: {log}: {lines} lines, {count} rows, {len(statuses)} statuses, "
          f"{summary['rejected']} rejects match DuckDB over the lake")
    check_truncated(binary, log, count)


IPV4 = re.compile(rb"(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d.])")


def check_truncated(binary, log, rows):
    """`--anonymize-ip truncate`: the same rows, and no IPv4 address of the log, with its last
    octet, left in the client column or in the rejects' raw lines."""
    with open(log, "rb") as f:
        addresses = {m.group(0) for m in IPV4.finditer(f.read()) if m.group(4) != b"0"}
    with tempfile.TemporaryDirectory() as out:
        run = subprocess.run([binary, "ingest", "--json", "--anonymize-ip", "truncate",
                              "--out", out, log], capture_output=True, check=True)
        summary = json.loads(run.stdout)
        assert summary["rows_out"] == rows, (summary, rows)
        db = duckdb.connect()
        clients = {c.encode() for (c,) in db.execute(f"""
            SELECT DISTINCT client_ip FROM read_parquet('{out}/access_logs/*/*/*.parquet')""").fetchall()}
        leaked = clients & addresses
        assert not leaked, sorted(leaked)[:5]
        rejects = b"".join(open(path, "rb").read() for path in glob.glob(f"{out}/rejects/*.ndjson"))
        leaked = {a for a in addresses if a in rejects}
        assert not leaked, sorted(leaked)[:5]
    print(f"ok: {log}: with --anonymize-ip truncate, none of its {len(addresses)} addresses "
          f"left in the client column or the rejects")


ALB_FIELD = re.compile(rb'"(?:[^"\\]|\\.)*"|[^ "]+')
ALB_TYPES = {b"http", b"https", b"h2", b"grpcs", b"ws", b"wss"}


def alb_fields(path):
    """Counts of (target_status_code, trace_id) over the ALB access lines, `-` as None."""
    counts = collections.Counter()
    with open(path, "rb") as f:
        for raw in f:
            fields = [f[1:-1] if f.startswith(b'"') else f
                      for f in ALB_FIELD.findall(raw.rstrip(b"\r\n"))]
            if len(fields) < 18 or fields[0] not in ALB_TYPES:
                continue

            def value(field):
                return None if field in (b"-", b"") else field.decode()
            counts[(value(fields[9]), value(fields[17]))] += 1
    return counts


def check_alb(binary, log):
    expected_counts = alb_fields(log)
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([binary, "ingest", "--format", "alb", "--extra-fields", "--out", out, log],
                       capture_output=True, check=True)
        rows = duckdb.connect().execute(f"""
            SELECT json_extract_string(extra_fields, '$.target_status_code'),
                   json_extract_string(extra_fields, '$.trace_id'), count(*)
            FROM read_parquet('{out}/access_logs/*/*/*.parquet')
            GROUP BY ALL""").fetchall()
    lake_counts = collections.Counter({(status, trace): n for status, trace, n in rows})
    assert lake_counts == expected_counts, (lake_counts - expected_counts,
                                            expected_counts - lake_counts)
    print(f"ok: {log}: {sum(lake_counts.values())} ALB rows' target status and trace id "
          f"in extra_fields match a plain split")


def main():
    binary, args = sys.argv[1], sys.argv[2:]
    split = args.index("--alb") if "--alb" in args else len(args)
    logs, alb_logs = args[:split], args[split + 1:]
    for log in logs:
        check(binary, log)
    for log in alb_logs:
        check_alb(binary, log)
    print(f"{len(logs) + len(alb_logs)} passed, 0 failed")


if __name__ == "__main__":
    main()
