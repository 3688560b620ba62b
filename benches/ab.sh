#!/usr/bin/env bash
# Compares builds of the `throughput` binary on one stage, in rounds that run every build once
# in a shuffled order, pinned to one core:
#
#   bash benches/ab.sh ROUNDS STAGE BUILD_A BUILD_B [BUILD...]
#   e.g. bash benches/ab.sh 14 lake /tmp/throughput-before target/profiling/throughput
#
# INPUT=FILE picks the log (default bench-data/bench-1m.log). STAGE is `decode` or `lake` (the lake is written under $TMPDIR: put it on tmpfs). Prints each
# build's median, fastest and slowest time, and its median against the first build's.
#
# Why: this machine's speed drifts by 20-40 % within minutes, and a few alternating rounds in a
# fixed order have shown 3-4 % gains that 14 shuffled rounds did not confirm. Trust a difference
# only when it is larger than the spread between rounds, and check it against callgrind.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 4 ]; then
  sed -n '2,9p' "$0" >&2
  exit 2
fi
rounds=$1 stage=$2
shift 2
builds=("$@")
input=${INPUT:-bench-data/bench-1m.log}
[ -s "$input" ] || { echo "no $input: run benches/run.sh once to make it" >&2; exit 1; }

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for _ in $(seq "$rounds"); do
  for index in $(seq 0 $((${#builds[@]} - 1)) | shuf); do
    seconds=$(taskset -c 0 "${builds[$index]}" "$input" "$stage" |
      sed -n 's/.*"seconds": *\([0-9.]*\).*/\1/p')
    echo "$index $seconds" >> "$results"
  done
done

first_median=
for index in $(seq 0 $((${#builds[@]} - 1))); do
  read -r median fastest slowest < <(awk -v i="$index" '$1 == i { print $2 }' "$results" |
    sort -n | awk '{ t[NR] = $1 } END {
      m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
      print m, t[1], t[NR] }')
  first_median=${first_median:-$median}
  ratio=$(awk -v m="$median" -v f="$first_median" 'BEGIN { printf "%.3f", m / f }')
  echo "${builds[$index]}: median ${median} s (fastest ${fastest}, slowest ${slowest}) = ${ratio}x the first"
done
