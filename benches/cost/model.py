#!/usr/bin/env python3
"""The monthly AWS bill of the stack for 1 TB of raw logs, from figures measured on the real code.

    python3 benches/cost/model.py [--log bench-data/bench-1m.log] [--write]

Measures, on LOG (by default the 1,000,000-line benchmark log, 30 days of traffic):
  - the `ingest` function's work on full Kinesis batches (`ingest-batch`, optimised build): log
    bytes in, JSON bytes and Firehose records out, CPU milliseconds per batch;
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


def run(command, **kwargs):
    return subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True, **kwargs)


def template_default(name):
    text = (ROOT / "template.yaml").read_text()
    match = re.search(rf"^  {name}:\n(?:    .*\n)*?    Default: \"?([^\"\n]+)\"?$", text, re.M)
    return float(match.group(1))


def measure(log):
    run(["cargo", "build", "--profile", "profiling", "-p", "loglake-benches", "--bin", "ingest-batch"])
    run(["cargo", "build", "--bin", "loglake"])
    batch = json.loads(run([str(ROOT / "target/profiling/ingest-batch"), log, "10000", "6000000", "9"]).stdout)
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
    return {
        "batch": batch,
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
    # Lambda gives a function CPU in proportion to its memory (one vCPU at mb_per_vcpu): below
    # that, a CPU-second costs mb_per_vcpu MB-seconds whatever the memory.
    lam = prices["lambda_arm64"]
    memory_mb = template_default("IngestMemorySize")
    cpu_seconds = batches * batch["median_ms"] / 1000
    gb_seconds = cpu_seconds * max(memory_mb, lam["mb_per_vcpu"]) / 1024
    scale = TB / measured["log_bytes"]
    parquet_gb = measured["parquet_bytes"] * scale / GB
    buffer_mb = template_default("FirehoseBufferSizeMB")
    interval = template_default("FirehoseBufferIntervalSeconds")
    json_mb_per_hour = json_gb * 1024 / HOURS_PER_MONTH
    objects = HOURS_PER_MONTH * max(math.ceil(json_mb_per_hour / buffer_mb), 3600 / interval)

    kinesis_record = batch["log_bytes"] / batch["records"]
    stream = kinesis(prices, kinesis_record)
    fh, s3, athena = prices["firehose"], prices["s3_standard"], prices["athena"]

    def query_cost(bytes_read):
        return max(bytes_read * scale, athena["minimum_bytes_per_query"]) / TB * athena["tb_scanned"]

    # The hourly compaction (template's CompactionSchedule, the backfill function at its 3,008 MB):
    # each run lists the 24 hours it looks back over, reads each Firehose object once and writes
    # an hour's Parquet in 128 MB files plus the partition's record twice.
    compaction = measured["compaction"]
    compaction_gb_seconds = compaction["cpu_seconds"] * scale * 3008 / 1024
    compaction_requests = HOURS_PER_MONTH * 24, objects, HOURS_PER_MONTH * (math.ceil(parquet_gb * 1024 / HOURS_PER_MONTH / 128) + 2)
    list_count, get_count, put_count = compaction_requests
    day_reports = sum(query_cost(day) for day, _ in measured["reports"].values())
    month_reports = sum(query_cost(month) for _, month in measured["reports"].values())
    rows = stream + [
        ("", "Lambda `ingest` (arm64): compute", f"{gb_seconds:,.0f} GB-s", gb_seconds * lam["gb_second"]),
        ("", "Lambda `ingest`: invocations", f"{batches:,.0f}", batches / 1e6 * lam["million_requests"]),
        ("", "Firehose: ingestion (JSON rows)", f"{json_gb:,.0f} GB", json_gb * fh["ingested_gb"]),
        ("", "Firehose: format conversion to Parquet", f"{json_gb:,.0f} GB", json_gb * fh["format_conversion_gb"]),
        ("event-time", "Firehose: dynamic partitioning (data)", f"{json_gb:,.0f} GB", json_gb * fh["dynamic_partitioning_gb"]),
        ("event-time", "Firehose: dynamic partitioning (objects)", f"{objects:,.0f}", objects / 1000 * fh["dynamic_partitioning_thousand_objects"]),
        ("", "S3: the month's Parquet, stored a month", f"{parquet_gb:,.0f} GB", parquet_gb * s3["gb_month"]),
        ("", "S3: PUT requests (Firehose's objects)", f"{objects:,.0f}", objects / 1000 * s3["thousand_put"]),
        ("", "Lambda `backfill`: the hourly compaction (at most: a debug build measured)", f"{compaction_gb_seconds:,.0f} GB-s", compaction_gb_seconds * lam["gb_second"]),
        ("", "S3: the compaction's LIST, GET and PUT requests", f"{sum(compaction_requests):,.0f}",
         (list_count + put_count) / 1000 * s3["thousand_put"] + get_count / 1000 * s3["thousand_get"]),
        ("", f"Athena: the {len(measured['reports'])} reports for one day, daily", f"{DAYS_PER_MONTH} runs each", DAYS_PER_MONTH * day_reports),
        ("", f"Athena: the {len(measured['reports'])} reports over the month, once", "1 run each", month_reports),
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
        "log_bytes_per_batch": batch["log_bytes"],
        "kinesis_record": kinesis_record,
        "compaction": compaction,
    }
    return rows, figures


def kinesis(prices, record_bytes):
    """The stream's rows of the bill when producers send records of `record_bytes` on average:
    on-demand ("stream") and, instead, provisioned ("provisioned")."""
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
    return [
        ("stream", "Kinesis on-demand: stream hours", f"{HOURS_PER_MONTH} h", HOURS_PER_MONTH * on_demand["stream_hour"]),
        ("stream", "Kinesis on-demand: data in (records rounded up to a KB)", f"{stream_gb:,.0f} GB", stream_gb * on_demand["ingested_gb"]),
        ("stream", "Kinesis on-demand: data read by `ingest`", f"{stream_gb:,.0f} GB", stream_gb * on_demand["retrieved_gb"]),
        ("provisioned", f"Kinesis provisioned instead: {shards} shards", f"{shards * HOURS_PER_MONTH:,} shard-hours", shards * HOURS_PER_MONTH * provisioned["shard_hour"]),
        ("provisioned", "Kinesis provisioned instead: PUT payload units", f"{units / 1e6:,.0f} M", units / 1e6 * provisioned["million_put_payload_units"]),
    ]


def bill(rows, stream="stream", partitioning="event-time"):
    """The month's total with one stream mode (`stream` or `provisioned`) and partitioning
    (`event-time` or `arrival-time`)."""
    left_out = {"stream", "provisioned", "event-time"} - {stream, partitioning}
    return sum(cost for kind, _, _, cost in rows if kind not in left_out)


def table(measured, prices, log):
    rows, f = model(measured, prices)
    total = bill(rows)
    with_provisioned = bill(rows, stream="provisioned")
    # The same with records of 25 KB (one PUT payload unit), as an aggregating producer sends.
    packed = [r for r in rows if r[0] not in ("stream", "provisioned")] + kinesis(
        prices, prices["kinesis_provisioned"]["put_payload_unit_bytes"])
    options = [
        ("the template's defaults: `StreamMode=ON_DEMAND`, `Partitioning=EventTime`", bill(rows)),
        ("`Partitioning=ArrivalTime`", bill(rows, partitioning="arrival-time")),
        ("`StreamMode=PROVISIONED` (`ShardCount` as above)", with_provisioned),
        ("`StreamMode=PROVISIONED`, `Partitioning=ArrivalTime`", bill(rows, "provisioned", "arrival-time")),
        ("the same, and producers aggregate lines into 25 KB records (KPL aggregation)",
         bill(packed, "provisioned", "arrival-time")),
    ]
    out = [
        f"1 TB (2^40 bytes) of raw logs a month at the prices of `benches/cost/aws-prices.json` ({prices['as_of']}),",
        f"measured on `{os.path.relpath(log, ROOT)}` ({measured['log_bytes'] / 1e6:,.0f} MB, {measured['days']} days).",
        "",
        "| component | a month | $ | $ share |",
        "|---|---|---|---|",
    ]
    for kind, name, quantity, cost in rows:
        share = "" if kind == "provisioned" else f"{100 * cost / total:.1f} %"
        out.append(f"| {name} | {quantity} | {cost:,.2f} | {share} |")
    out += [
        f"| **total, on-demand stream** | | **{total:,.2f}** | 100 % |",
        f"| total, provisioned stream | | {with_provisioned:,.2f} | |",
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
        "here; Lambda's Graviton taken as equal).".format(
            f["json_per_raw"], f["record_bytes"], f["parquet_per_raw"], f["median_ms"],
            f["log_bytes_per_batch"] / 1e6, f["kinesis_record"]),
        "Compaction: the log backfilled as ten sources, {:,} files merged into {:,} ({:,} rows) in {:.1f} CPU-seconds "
        "(a debug build of our crates: an upper bound), scaled to 1 TB at the backfill function's 3,008 MB.".format(
            f["compaction"]["files_in"], f["compaction"]["files_out"], f["compaction"]["rows"],
            f["compaction"]["cpu_seconds"]),
        "Assumed: Lambda bills {:,.0f} CPU-seconds at {:.0f} MB as {} MB-seconds each (CPU in proportion to "
        "memory), Firehose calls' waiting not counted; Firehose flushes an object when its {:.0f} MB buffer "
        "fills or every {:.0f} s, one partition at a time; provisioned shards sized for {}× the average "
        "rate; Athena reads what DataFusion read here, scaled, at least 10 MB a query; dynamic partitioning's "
        "JQ processing hours not counted (CloudWatch's JQProcessing.Duration shows them).".format(
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
