#!/usr/bin/env bash
# `loglake ship` over the 1,000,000-line bench log (benches/run.sh makes it), in turn:
# into a Kinesis stream of moto's (4 shards; moto's own time dominates the wall clock, so the
# shipper's CPU is the figure), as newline-packed records and as KPL aggregates, and into a
# local lake; then `loglake ingest` of the same file, for comparison. Prints /usr/bin/time's
# wall, user, sys and peak RSS, and the shipper's status line (records per line).
#
#   PROFILE=profiling bash benches/ship.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
rounds=${1:-2}
bin=target/$profile/loglake
log=$PWD/bench-data/bench-1m.log
[ -s "$log" ] || { echo "no $log: run benches/run.sh first" >&2; exit 1; }
cargo build --quiet --profile "$profile" --bin loglake
port=5998
.venv/bin/moto_server -H 127.0.0.1 -p $port > /dev/null 2>&1 &
moto=$!
trap 'kill $moto; rm -rf "$work"' EXIT
work=$(mktemp -d)
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
for _ in $(seq 50); do curl -s "$AWS_ENDPOINT_URL" > /dev/null && break; sleep 0.2; done
curl -s -X POST "$AWS_ENDPOINT_URL/" -H "X-Amz-Target: Kinesis_20131202.CreateStream" \
  -H "Content-Type: application/x-amz-json-1.1" \
  -H "Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0" \
  -d '{"StreamName":"ship-bench","ShardCount":4}' > /dev/null
ln -s "$log" "$work/access.log"
measure() { /usr/bin/time -f "$1: %e s wall, %U s user, %S s sys, %M KB peak" "${@:2}" 2>&1 | tail -2; }
for round in $(seq "$rounds"); do
  echo "round $round"
  for format in lines kpl; do
    rm -f "$work/state.json"
    measure "ship --to kinesis ($format)" "$bin" ship "$work/access.log*" --to kinesis://ship-bench \
      --record-format "$format" --state "$work/state.json" --once
  done
  rm -rf "$work/lake" "$work/state.json"
  measure "ship --out" "$bin" ship "$work/access.log*" --out "$work/lake" --state "$work/state.json" --once --flush-ms 1000
  rm -rf "$work/ingested"
  measure "ingest" "$bin" ingest "$log" --out "$work/ingested"
done
