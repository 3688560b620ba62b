#!/usr/bin/env bash
# The report page over a lake, written by each build in turn, ROUNDS times:
#
#     bash benches/report_page.sh ROUNDS LAKE BINARY...
#
# e.g. `bash benches/report_page.sh 6 /tmp/lake1m /tmp/loglake-before target/profiling/loglake`.
# Prints, per build, each round's wall time, the mean user and system CPU and the peak RSS; the
# pages each build wrote are left in $TMPDIR (compare them with `cmp`).
set -euo pipefail
rounds=$1 lake=$2
shift 2
export LOGLAKE_ENRICHMENT_DIR="${LOGLAKE_ENRICHMENT_DIR:-$(dirname "$0")/../enrichment-data}"
for _ in $(seq "$rounds"); do
  for binary in "$@"; do
    page="${TMPDIR:-/tmp}/page-$(echo "$binary" | tr / _).html"
    measured=$(/usr/bin/time -f "%e %U %S %M" "$binary" report --lake "$lake" --html "$page" 2>&1 | tail -1)
    echo "$binary $measured"
  done
done | awk '{ wall[$1] = wall[$1] " " $2; user[$1] += $3; sys[$1] += $4; n[$1]++
              if ($5 > rss[$1]) rss[$1] = $5 }
            END { for (b in wall) printf "%s wall:%s user: %.2f s sys: %.2f s peak RSS: %d MB\n",
                  b, wall[b], user[b] / n[b], sys[b] / n[b], rss[b] / 1024 }'
