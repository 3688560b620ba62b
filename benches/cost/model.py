#!/usr/bin/env python3
"""The monthly AWS bill of the stack for 1 TB of raw logs, from figures measured on the real code.

    python3 benches/cost/model.py [--log bench-data/bench-1m.log] [--write]

Measures, on LOG (by default the 1,000,000-line benchmark log, 30 days of traffic):
  - the `ingest` function's work on full Kinesis batches (`ingest-batch`, optimised build): log
    bytes in, JSON bytes and Firehose records out, CPU milliseconds per batch; and in the lake
    wiring (`WIRING=lake`), on the batch an invocation sees at 1 TB a month, CPU milliseconds
    and Parquet bytes;
  - the lake the same lines make (`loglake ingest`): Parquet bytes;
  - every shipped report (`loglake query`) over one day and over the whole log: Parquet bytes read;
  - the compaction (`loglake compact`) of the same lines backfilled as ten sources: CPU seconds
    (a debug build of our crates, so an upper bound).
Then prices them with aws-prices.json (dated) and the template's defaults (template.yaml), scaling
the log to 1 TB a month. Prints the table; `--write` also puts it in benches/README.md between the
`cost-model` markers. Assumptions are printed under the table.
"""

import argparse
import json
import math
import os
import pathlib
import re
import resource
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
TB = 2**40
GB = 2**30
HOURS_PER_MONTH = 730
DAYS_PER_MONTH = 30
# Provisioned shards are sized for this many times the average rate (traffic is not flat).
PEAK_TO_AVERAGE = 3
# Shards Lambda polls: what a provisioned stream needs for 1 TB a month at one line a record
# (kinesis() below works it out; the model warns when they differ). An on-demand stream starts
# with 4.
POLLED_SHARDS = 6
# A Kinesis record of the benchmark event holds about this many bytes of lines (ingest-batch).
RECORD_LOG_BYTES = 720
# A dashboard on Athena (Grafana's usual): the last 24 hours, refreshed every 5 minutes, each
# Parquet file read with 3 GETs (footer length, footer, the columns' ranges). Assumed: Athena
# does not publish how it reads a file.
DASHBOARD_HOURS = 24
DASHBOARD_REFRESHES_PER_HOUR = 12
GETS_PER_FILE = 3
# Hours not compacted yet at any moment: the current one and the last, until the hourly run
# after it settles (the template's CompactionSchedule, settle_minutes 60).
UNCOMPACTED_HOURS = 2
# CloudWatch: the metrics the `ingest` function emits (functions/ingest/src/metrics.rs, one
# dimension set), and what the functions log an invocation (a JSON summary line and the EMF
# line, about 1.5 KB in the Runtime API test's output).
EMF_METRICS = 13
LOG_BYTES_PER_INVOCATION = 1536
# The compaction fetches the small files with 16 GETs in flight (backfill/src/compact.rs,
# S3_CONCURRENCY); the time each waits is assumed (S3's first-byte latency for small objects is
# tens of milliseconds).
SECONDS_PER_GET = 0.02
GETS_IN_FLIGHT = 16


def run(command, **kwargs):
    return subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True, **kwargs)


def template_text():
    return (ROOT / "template.yaml").read_text()


def template_default_text(name):
    text = template_text()
    match = re.search(rf"^  {name}:\n(?:    .*\n)*?    Default: \"?([^\"\n]+)\"?$", text, re.M)
    return match.group(1)


def template_default(name):
    return float(template_default_text(name))


def invocations_per_month():
    """Lambda calls `ingest` once per shard each batching window, or sooner when a batch fills:
    at 1 TB a month the window comes first."""
    window = template_default("MaximumBatchingWindowInSeconds")
    return POLLED_SHARDS * HOURS_PER_MONTH * 3600 / window


def measure(log):
    run(["cargo", "build", "--profile", "profiling", "-p", "loglake-benches", "--bin", "ingest-batch"])
    run(["cargo", "build", "--bin", "loglake"])
    ingest_batch = str(ROOT / "target/profiling/ingest-batch")
    batch = json.loads(run([ingest_batch, log, "10000", "6000000", "9"]).stdout)
    # The lake wiring writes files per invocation, so it is measured on the batch one sees.
    invocation_bytes = int(TB / invocations_per_month())
    lake_batch = json.loads(run(
        [ingest_batch, log, str(invocation_bytes // RECORD_LOG_BYTES), str(invocation_bytes), "15"],
        env={**os.environ, "WIRING": "lake"}).stdout)
    loglake = str(ROOT / "target/debug/loglake")
    with tempfile.TemporaryDirectory() as tmp:
        lake = os.path.join(tmp, "lake")
        run([loglake, "ingest", "--out", lake, log])
        files = list(pathlib.Path(lake, "access_logs").rglob("*.parquet"))
        parquet_bytes = sum(f.stat().st_size for f in files)
        days = sorted({f.parent.parent.name for f in files})
        day = days[len(days) // 2]
        reports = {}
        names = [line.split()[0] for line in run([loglake, "query", "--list"]).stdout.splitlines() if line.strip()]
        for name in names:
            read = []
            for span in (["--from", day[3:], "--to", day[3:]], []):
                note = run([loglake, "query", name, "--lake", lake, "--format", "json", *span]).stderr
                read.append(float(re.search(r"read ([0-9.]+) MB of Parquet", note).group(1)) * 1e6)
            reports[name] = read
        compaction = measure_compaction(loglake, log, tmp)
    with open(log, "rb") as lines:
        log_lines = sum(1 for _ in lines)
    return {
        "batch": batch,
        "lake_batch": lake_batch,
        "log_lines": log_lines,
        "compaction": compaction,
        "log_bytes": os.path.getsize(log),
        "parquet_bytes": parquet_bytes,
        "parquet_files": len(files),
        "days": len(days),
        "reports": reports,
    }


def measure_compaction(loglake, log, tmp, sources=10):
    """CPU seconds of `loglake compact` over the log backfilled as `sources` small sources (each
    hour gets a file from every source), and its summary."""
    src = os.path.join(tmp, "sources")
    os.makedirs(src)
    outputs = [open(os.path.join(src, f"part-{i:02d}.log"), "wb") for i in range(sources)]
    with open(log, "rb") as lines:
        for n, line in enumerate(lines):
            outputs[n % sources].write(line)
    for output in outputs:
        output.close()
    lake = os.path.join(tmp, "small-files")
    run([loglake, "backfill", src, "--dest", lake])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads(run([loglake, "compact", "--lake", lake, "--json"]).stdout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary["cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return summary


def model(measured, prices):
    batch = measured["batch"]
    raw_gb = TB / GB
    json_per_raw = batch["firehose_bytes"] / batch["log_bytes"]
    record_bytes = batch["firehose_bytes"] / batch["firehose_records"]
    rounding = prices["firehose"]["record_rounding_bytes"]
    json_gb = raw_gb * json_per_raw * math.ceil(record_bytes / rounding) * rounding / record_bytes
    batches = TB / batch["log_bytes"]
    invocations = max(batches, invocations_per_month())
    # Lambda gives a function CPU in proportion to its memory (one vCPU at mb_per_vcpu): below
    # that, a CPU-second costs mb_per_vcpu MB-seconds whatever the memory. An invocation bills
    # at least its wall time and at least its CPU time (the lake writer encodes on threads).
    lam = prices["lambda_arm64"]
    memory_mb = template_default("IngestMemorySize")
    cpu_seconds = batches * batch["median_ms"] / 1000
    gb_seconds = cpu_seconds * max(memory_mb, lam["mb_per_vcpu"]) / 1024
    lake_batch = measured["lake_batch"]
    lake_cpu_seconds = TB / lake_batch["log_bytes"] * max(lake_batch["median_ms"], lake_batch["median_cpu_ms"]) / 1000
    lake_gb_seconds = lake_cpu_seconds * max(memory_mb, lam["mb_per_vcpu"]) / 1024
    # Each invocation's rows span its batching window: one file, two when an hour ends inside it.
    lake_objects = invocations * (1 + template_default("MaximumBatchingWindowInSeconds") / 3600)
    scale = TB / measured["log_bytes"]
    parquet_gb = measured["parquet_bytes"] * scale / GB
    buffer_mb = template_default("FirehoseBufferSizeMB")
    interval = template_default("FirehoseBufferIntervalSeconds")
    json_mb_per_hour = json_gb * 1024 / HOURS_PER_MONTH
    objects = HOURS_PER_MONTH * max(math.ceil(json_mb_per_hour / buffer_mb), 3600 / interval)

    kinesis_record = batch["log_bytes"] / batch["records"]
    # The producers README shows (Vector, Fluent Bit, the Kinesis Agent) send a line a record.
    line_bytes = measured["log_bytes"] / measured["log_lines"]
    stream, shards, records_per_second = kinesis(prices, line_bytes)
    if shards != POLLED_SHARDS:
        print(f"warning: {shards} shards needed, the model polls POLLED_SHARDS={POLLED_SHARDS}", file=sys.stderr)
    fh, s3, athena, cw = prices["firehose"], prices["s3_standard"], prices["athena"], prices["cloudwatch"]

    def query_cost(bytes_read):
        return max(bytes_read * scale, athena["minimum_bytes_per_query"]) / TB * athena["tb_scanned"]

    # The hourly compaction (template's CompactionSchedule, the backfill function at its 3,008 MB):
    # each run lists the 24 hours it looks back over, reads each Firehose object once and writes
    # an hour's Parquet in 128 MB files plus the partition's record twice.
    compaction = measured["compaction"]
    compaction_gb_seconds = compaction["cpu_seconds"] * scale * 3008 / 1024
    lists = HOURS_PER_MONTH * 24
    puts = HOURS_PER_MONTH * (math.ceil(parquet_gb * 1024 / HOURS_PER_MONTH / 128) + 2)

    def compaction_requests(files):
        return f"{lists + files + puts:,.0f}", (lists + puts) / 1000 * s3["thousand_put"] + files / 1000 * s3["thousand_get"]

    def compaction_waiting(files):
        gb_seconds = files * SECONDS_PER_GET / GETS_IN_FLIGHT * 3008 / 1024
        return f"{gb_seconds:,.0f} GB-s", gb_seconds * lam["gb_second"]

    # The dashboard: every refresh reads the files of its 24 hours, the uncompacted hours' many
    # small ones and one merged file a compacted hour (what a month's Parquet makes at 128 MB).
    refreshes = DASHBOARD_REFRESHES_PER_HOUR * HOURS_PER_MONTH
    # Wiring=FirehoseReadsStream: Firehose bills reading a stream per record, each rounded up to
    # 5 KB, and calls the transform per MB of records (the template's processor buffer).
    reads_gb = TB / line_bytes * math.ceil(line_bytes / rounding) * rounding / GB
    transform_invocations = TB / 2**20
    merged_per_hour = math.ceil(parquet_gb * 1024 / HOURS_PER_MONTH / 128)

    def dashboard_gets(files_per_hour, compacted=True):
        uncompacted = UNCOMPACTED_HOURS if compacted else DASHBOARD_HOURS
        files = uncompacted * files_per_hour + (DASHBOARD_HOURS - uncompacted) * merged_per_hour
        gets = refreshes * files * GETS_PER_FILE
        return f"{gets / 1e6:,.0f} M", gets / 1000 * s3["thousand_get"]

    dashboard_scan = refreshes * query_cost(measured["reports"]["traffic_by_hour"][0])
    alarms = template_text().count("Type: AWS::CloudWatch::Alarm")
    log_gb = invocations * LOG_BYTES_PER_INVOCATION / GB
    day_reports = sum(query_cost(day) for day, _ in measured["reports"].values())
    month_reports = sum(query_cost(month) for _, month in measured["reports"].values())
    rows = stream + [
        ("ingest", "Lambda `ingest`: invocations (one per shard per batching window)", f"{invocations:,.0f}", invocations / 1e6 * lam["million_requests"]),
        ("firehose", "Firehose wiring: Lambda `ingest` (arm64) compute, JSON rows", f"{gb_seconds:,.0f} GB-s", gb_seconds * lam["gb_second"]),
        ("reads-stream", "FirehoseReadsStream: Firehose reading the stream (each record rounded up to 5 KB)", f"{reads_gb:,.0f} GB", reads_gb * fh["ingested_gb"]),
        ("reads-stream", "FirehoseReadsStream: Lambda `firehose-transform` compute (as `ingest`'s JSON rows)", f"{gb_seconds:,.0f} GB-s", gb_seconds * lam["gb_second"]),
        ("reads-stream", "FirehoseReadsStream: `firehose-transform` invocations (one per MB of records)", f"{transform_invocations:,.0f}", transform_invocations / 1e6 * lam["million_requests"]),
        ("firehose", "Firehose wiring: ingestion (JSON rows)", f"{json_gb:,.0f} GB", json_gb * fh["ingested_gb"]),
        ("firehose-any", "Firehose wirings: format conversion to Parquet", f"{json_gb:,.0f} GB", json_gb * fh["format_conversion_gb"]),
        ("event-time", "Firehose wirings: dynamic partitioning (data)", f"{json_gb:,.0f} GB", json_gb * fh["dynamic_partitioning_gb"]),
        ("event-time", "Firehose wirings: dynamic partitioning (objects)", f"{objects:,.0f}", objects / 1000 * fh["dynamic_partitioning_thousand_objects"]),
        ("firehose-any", "Firehose wirings: S3 PUT requests (Firehose's objects)", f"{objects:,.0f}", objects / 1000 * s3["thousand_put"]),
        ("firehose-any", "Firehose wirings: the compaction's S3 LIST, GET and PUT requests", *compaction_requests(objects)),
        ("firehose-any", "Firehose wirings: the compaction waiting on its GETs (assumed 20 ms each)", *compaction_waiting(objects)),
        ("parquet", "Parquet wiring: Lambda `ingest` (arm64) compute, Parquet files", f"{lake_gb_seconds:,.0f} GB-s", lake_gb_seconds * lam["gb_second"]),
        ("parquet", "Parquet wiring: S3 PUT requests (the function's files)", f"{lake_objects:,.0f}", lake_objects / 1000 * s3["thousand_put"]),
        ("parquet", "Parquet wiring: the compaction's S3 LIST, GET and PUT requests", *compaction_requests(lake_objects)),
        ("parquet", "Parquet wiring: the compaction waiting on its GETs (assumed 20 ms each)", *compaction_waiting(lake_objects)),
        ("", "S3: the month's Parquet, stored a month", f"{parquet_gb:,.0f} GB", parquet_gb * s3["gb_month"]),
        ("", "Lambda `backfill`: the hourly compaction (at most: a debug build measured)", f"{compaction_gb_seconds:,.0f} GB-s", compaction_gb_seconds * lam["gb_second"]),
        ("", f"Athena: the {len(measured['reports'])} reports for one day, daily", f"{DAYS_PER_MONTH} runs each", DAYS_PER_MONTH * day_reports),
        ("", f"Athena: the {len(measured['reports'])} reports over the month, once", "1 run each", month_reports),
        ("", "Athena: a dashboard of the last 24 h refreshed every 5 minutes (`traffic_by_hour`), data scanned", f"{refreshes:,} runs", dashboard_scan),
        ("firehose-any", "Firehose wirings: the dashboard's S3 GETs (3 a file)", *dashboard_gets(objects / HOURS_PER_MONTH)),
        ("parquet", "Parquet wiring: the dashboard's S3 GETs (3 a file; the 2 newest hours not compacted yet)", *dashboard_gets(lake_objects / HOURS_PER_MONTH)),
        ("", f"CloudWatch: the stack's alarms (at most; some belong to one wiring)", f"{alarms}", alarms * cw["alarm_month"]),
        ("", "CloudWatch: `ingest`'s EMF metrics", f"{EMF_METRICS}", EMF_METRICS * cw["metric_month"]),
        ("", "CloudWatch Logs: the functions' logs, ingested and stored a month", f"{log_gb:,.1f} GB", log_gb * (cw["logs_ingested_gb"] + cw["logs_stored_gb_month"])),
    ]
    figures = {
        "json_per_raw": json_per_raw,
        "record_bytes": record_bytes,
        "batches": batches,
        "cpu_seconds": cpu_seconds,
        "memory_mb": memory_mb,
        "parquet_per_raw": measured["parquet_bytes"] / measured["log_bytes"],
        "objects": objects,
        "day_reports": day_reports,
        "month_reports": month_reports,
        "median_ms": batch["median_ms"],
        "lake_batch": lake_batch,
        "invocations": invocations,
        "log_bytes_per_batch": batch["log_bytes"],
        "kinesis_record": kinesis_record,
        "compaction": compaction,
        "line_bytes": line_bytes,
        "shards": shards,
        "records_per_second": records_per_second,
        "dashboard_gets": dashboard_gets(lake_objects / HOURS_PER_MONTH),
        "dashboard_gets_uncompacted": dashboard_gets(lake_objects / HOURS_PER_MONTH, compacted=False),
    }
    return rows, figures


def kinesis(prices, record_bytes):
    """The stream's rows of the bill when producers send records of `record_bytes` on average:
    on-demand ("stream") and, instead, provisioned ("provisioned"); and the provisioned shards and
    the average records a second."""
    on_demand, provisioned = prices["kinesis_on_demand"], prices["kinesis_provisioned"]
    raw_gb = TB / GB
    records = TB / record_bytes
    kb = on_demand["record_rounding_bytes"]
    stream_gb = raw_gb * math.ceil(record_bytes / kb) * kb / record_bytes
    average_bps = TB / (HOURS_PER_MONTH * 3600)
    shards = max(
        math.ceil(PEAK_TO_AVERAGE * average_bps / provisioned["shard_ingest_bytes_per_second"]),
        math.ceil(PEAK_TO_AVERAGE * records / (HOURS_PER_MONTH * 3600) / 1000),
    )
    units = records * math.ceil(record_bytes / provisioned["put_payload_unit_bytes"])
    records_per_second = records / (HOURS_PER_MONTH * 3600)
    return [
        ("stream", "Kinesis on-demand: stream hours", f"{HOURS_PER_MONTH} h", HOURS_PER_MONTH * on_demand["stream_hour"]),
        ("stream", "Kinesis on-demand: data in (records rounded up to a KB)", f"{stream_gb:,.0f} GB", stream_gb * on_demand["ingested_gb"]),
        ("stream", "Kinesis on-demand: data read by `ingest`", f"{stream_gb:,.0f} GB", stream_gb * on_demand["retrieved_gb"]),
        ("provisioned", f"Kinesis provisioned: {shards} shards", f"{shards * HOURS_PER_MONTH:,} shard-hours", shards * HOURS_PER_MONTH * provisioned["shard_hour"]),
        ("provisioned", "Kinesis provisioned: PUT payload units", f"{units / 1e6:,.0f} M", units / 1e6 * provisioned["million_put_payload_units"]),
    ], shards, records_per_second


def included(stream="stream", wiring="firehose", partitioning="event-time"):
    """The kinds of rows in the bill of one stream mode (`stream` or `provisioned`), wiring
    (`firehose`: LambdaIngest, `parquet`: LambdaWritesParquet, `reads-stream`:
    FirehoseReadsStream) and, for LambdaIngest, partitioning (`event-time` or `arrival-time`;
    FirehoseReadsStream always partitions by event time); rows of kind "" are in every bill."""
    kinds = {"", stream, wiring}
    if wiring in ("firehose", "reads-stream"):
        kinds.add("firehose-any")
    if wiring in ("firehose", "parquet"):
        kinds.add("ingest")
    kinds.add(partitioning if wiring == "firehose" else "event-time" if wiring == "reads-stream" else "")
    return kinds


def bill(rows, **choice):
    kinds = included(**choice)
    return sum(cost for kind, _, _, cost in rows if kind in kinds)


def default_choices():
    """The template's defaults, as bill() names them."""
    stream = {"ON_DEMAND": "stream", "PROVISIONED": "provisioned"}[template_default_text("StreamMode")]
    wiring = {"LambdaIngest": "firehose", "LambdaWritesParquet": "parquet"}[template_default_text("Wiring")]
    partitioning = {"EventTime": "event-time", "ArrivalTime": "arrival-time"}[template_default_text("Partitioning")]
    return {"stream": stream, "wiring": wiring, "partitioning": partitioning}


def table(measured, prices, log):
    rows, f = model(measured, prices)
    defaults = default_choices()
    total = bill(rows, **defaults)
    # The same with records of 25 KB (one PUT payload unit), as an aggregating producer sends.
    packed_stream, packed_shards, _ = kinesis(prices, prices["kinesis_provisioned"]["put_payload_unit_bytes"])
    packed = [r for r in rows if r[0] not in ("stream", "provisioned")] + packed_stream
    settings = [
        ("`Wiring=LambdaIngest` (Firehose), `StreamMode=ON_DEMAND`, `Partitioning=EventTime`: the first release's defaults",
         {"wiring": "firehose", "stream": "stream", "partitioning": "event-time"}, rows),
        ("`Wiring=LambdaIngest`, `StreamMode=ON_DEMAND`, `Partitioning=ArrivalTime`",
         {"wiring": "firehose", "stream": "stream", "partitioning": "arrival-time"}, rows),
        ("`Wiring=LambdaIngest`, `StreamMode=PROVISIONED`, `Partitioning=EventTime`",
         {"wiring": "firehose", "stream": "provisioned", "partitioning": "event-time"}, rows),
        ("`Wiring=LambdaIngest`, `StreamMode=PROVISIONED`, `Partitioning=ArrivalTime`",
         {"wiring": "firehose", "stream": "provisioned", "partitioning": "arrival-time"}, rows),
        ("`Wiring=FirehoseReadsStream`, `StreamMode=PROVISIONED` (rows filed by event time)",
         {"wiring": "reads-stream", "stream": "provisioned"}, rows),
        ("`Wiring=LambdaWritesParquet`, `StreamMode=ON_DEMAND`",
         {"wiring": "parquet", "stream": "stream"}, rows),
        ("`Wiring=LambdaWritesParquet`, `StreamMode=PROVISIONED`",
         {"wiring": "parquet", "stream": "provisioned"}, rows),
        ("`Wiring=LambdaWritesParquet`, `StreamMode=PROVISIONED`, and producers aggregate lines into 25 KB records (KPL)",
         {"wiring": "parquet", "stream": "provisioned"}, packed),
    ]

    def is_default(choice):
        return all(defaults[k] == v for k, v in choice.items())

    options = [(name + (" **(the template's defaults)**" if is_default(choice) and chosen is rows else ""),
                bill(chosen, **choice))
               for name, choice, chosen in settings]
    in_default_bill = included(**defaults)
    out = [
        f"1 TB (2^40 bytes) of raw logs a month at the prices of `benches/cost/aws-prices.json` ({prices['as_of']}),",
        f"measured on `{os.path.relpath(log, ROOT)}` ({measured['log_bytes'] / 1e6:,.0f} MB, {measured['days']} days).",
        "",
        "| component | a month | $ | $ share |",
        "|---|---|---|---|",
    ]
    for kind, name, quantity, cost in rows:
        share = f"{100 * cost / total:.1f} %" if kind in in_default_bill else ""
        out.append(f"| {name} | {quantity} | {cost:,.2f} | {share} |")
    out += [
        f"| **total at the template's defaults** (the rows with a share) | | **{total:,.2f}** | 100 % |",
        "",
        "The template's choices, priced with the same figures:",
        "",
        "| settings | $ a month per TB |",
        "|---|---|",
        *(f"| {name} | {cost:,.2f} |" for name, cost in options),
        "",
        "Measured: JSON sent to Firehose {:.2f}× the raw bytes (records of {:,.0f} bytes); Parquet {:.3f}× "
        "the raw bytes (our writer, zstd: Firehose writes Snappy, larger); `ingest` {:.1f} ms of CPU per "
        "batch of {:,.1f} MB of lines in Kinesis records of {:,.0f} bytes, a few lines each (an x86 core "
        "here; Lambda's Graviton taken as equal); in the Parquet wiring {:.1f} ms of wall time and {:.1f} ms "
        "of CPU per invocation's {:,.0f} KB of lines ({:,} lines into {} Parquet files of {:,.0f} bytes in all: "
        "the benchmark log packs 30 days into 237 MB, so a batch spans more hours than live traffic's).".format(
            f["json_per_raw"], f["record_bytes"], f["parquet_per_raw"], f["median_ms"],
            f["log_bytes_per_batch"] / 1e6, f["kinesis_record"],
            f["lake_batch"]["median_ms"], f["lake_batch"]["median_cpu_ms"], f["lake_batch"]["log_bytes"] / 1e3,
            f["lake_batch"]["lines"], f["lake_batch"]["lake_objects"], f["lake_batch"]["lake_bytes"]),
        "Kinesis: the producers README shows (Vector, Fluent Bit, the Kinesis Agent) send a line a record, "
        "{:,.0f} bytes here: {:,.0f} records a second on average. A shard takes 1,000 records and 1 MB a second, "
        "so at a line a record the records, not the bytes, set the count: {} provisioned shards for {}× the "
        "average ({} when a producer aggregates lines into 25 KB records, as the KPL does). Above that rate "
        "for longer than the producers' retries absorb, `PutRecords` refuses records "
        "(ProvisionedThroughputExceededException) and producers retry or, at their buffers' end, drop; "
        "an on-demand stream adapts by itself, up to twice its previous peak.".format(
            f["line_bytes"], f["records_per_second"], f["shards"], PEAK_TO_AVERAGE, packed_shards),
        "The dashboard's GETs in the Parquet wiring: {} GETs a month, ${:,.2f}, with the hourly compaction; "
        "without it ({:,.0f} files an hour for all 24 hours) {} GETs, ${:,.2f}.".format(
            *f["dashboard_gets"], f["invocations"] / HOURS_PER_MONTH, *f["dashboard_gets_uncompacted"]),
        "Compaction: the log backfilled as ten sources, {:,} files merged into {:,} ({:,} rows) in {:.1f} CPU-seconds "
        "(a debug build of our crates: an upper bound), scaled to 1 TB at the backfill function's 3,008 MB.".format(
            f["compaction"]["files_in"], f["compaction"]["files_out"], f["compaction"]["rows"],
            f["compaction"]["cpu_seconds"]),
        "Assumed: Lambda calls `ingest` {:,.0f} times a month (once per shard every {:.0f} s batching window, "
        "{} shards); the Parquet wiring writes one file per invocation (two when an hour ends inside its "
        "window); Lambda bills {:,.0f} CPU-seconds at {:.0f} MB as {} MB-seconds each (CPU in proportion to "
        "memory), Firehose calls' and S3 PUTs' waiting not counted; Firehose flushes an object when its {:.0f} MB buffer "
        "fills or every {:.0f} s, one partition at a time; provisioned shards sized for {}× the average "
        "rate; Athena reads what DataFusion read here, scaled, at least 10 MB a query; dynamic partitioning's "
        "JQ processing hours not counted (CloudWatch's JQProcessing.Duration shows them).".format(
            f["invocations"], template_default("MaximumBatchingWindowInSeconds"), POLLED_SHARDS,
            f["cpu_seconds"], f["memory_mb"], prices["lambda_arm64"]["mb_per_vcpu"],
            template_default("FirehoseBufferSizeMB"), template_default("FirehoseBufferIntervalSeconds"), PEAK_TO_AVERAGE),
    ]
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", default=str(ROOT / "bench-data/bench-1m.log"))
    parser.add_argument("--write", action="store_true", help="update benches/README.md")
    args = parser.parse_args()
    prices = json.loads((ROOT / "benches/cost/aws-prices.json").read_text())
    text = table(measure(args.log), prices, os.path.abspath(args.log))
    print(text)
    if args.write:
        readme = ROOT / "benches/README.md"
        content = readme.read_text()
        begin, end = "<!-- cost-model:begin -->", "<!-- cost-model:end -->"
        if begin not in content:
            sys.exit("benches/README.md has no cost-model markers")
        head, rest = content.split(begin, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(f"{head}{begin}\n{text}\n{end}{tail}")


if __name__ == "__main__":
    main()
