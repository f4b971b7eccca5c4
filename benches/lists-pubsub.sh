#!/usr/bin/env bash
# benches/lists-pubsub.sh: LPUSH, RPOP and PUBLISH throughput and Pub/Sub
# fan-out, Brook against redis-server, side by side.
#
# Each repetition starts each server on a fresh directory (same port,
# never both at once), in an order rotated by repetition, under the same
# fsync policy (FSYNC, default everysec; Redis with appendonly yes). Prints
# one markdown table of medians, Brook/Redis ratios of the medians and the
# ratios within each repetition.
#
#   cargo build --release --examples && bash benches/lists-pubsub.sh
#
# Env: REPS (3), N (200000 requests per redis-benchmark run), CLIENTS (50),
# PIPE (32), FSYNC (everysec), SUBS (1000 subscribers for the fan-out),
# MSGS (2000 messages for the fan-out), PORT (16398).
set -uo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
PIPE=${PIPE:-32}
FSYNC=${FSYNC:-everysec}
SUBS=${SUBS:-1000}
MSGS=${MSGS:-2000}
PORT=${PORT:-16398}
BROOK=target/release/brook
FANOUT=target/release/examples/fanout
OUT=$(mktemp -d /tmp/lists-pubsub.XXXXXX)
ulimit -n 65536 2>/dev/null || true

start() { # start NAME DIR
  case $1 in
    brook) $BROOK serve --port "$PORT" --dir "$2" --appendfsync "$FSYNC" >"$2.log" 2>&1 & ;;
    redis) redis-server --port "$PORT" --dir "$2" --appendonly yes --appendfsync "$FSYNC" \
             --save '' --maxclients 20000 >"$2.log" 2>&1 & ;;
  esac
  PID=$!
  for _ in $(seq 200); do redis-cli -p "$PORT" PING >/dev/null 2>&1 && return; sleep 0.05; done
  echo "$1 did not start" >&2; exit 1
}
stop() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }

rps() { # rps LABEL redis-benchmark-args...: requests/s of each test
  local label=$1; shift
  redis-benchmark -p "$PORT" -c "$CLIENTS" -n "$N" -d 100 -q --csv "$@" 2>/dev/null |
    awk -F'"' -v l="$label" 'NR>1 && $2!="" {print l"|"$2"|"$4}'
}

run() { # run NAME REP
  local dir=$OUT/data-$1-$2
  rm -rf "$dir"; mkdir -p "$dir"
  start "$1" "$dir"
  for p in 1 "$PIPE"; do
    rps "P$p" -P "$p" -t lpush,rpop
    redis-cli -p "$PORT" DEL mylist >/dev/null
    # PUBLISH with one subscriber reading.
    redis-cli -p "$PORT" SUBSCRIBE ch >/dev/null &
    local sub=$!
    sleep 0.2
    rps "P$p" -P "$p" PUBLISH ch "$(head -c 100 /dev/zero | tr '\0' x)" | sed 's/|PUBLISH[^|]*|/|PUBLISH 1 sub|/'
    kill $sub 2>/dev/null; wait $sub 2>/dev/null
  done
  # Fan-out: 1 publisher, SUBS subscribers; messages delivered per second.
  local f
  f=$($FANOUT "redis://127.0.0.1:$PORT/" "$SUBS" "$MSGS" 2>&1 | grep -oE '[0-9.]+ messages/s' | grep -oE '^[0-9.]+')
  echo "fan-out|1 pub, $SUBS subs, delivered/s|${f:-0}"
  stop
  rm -rf "$dir"
}

for r in $(seq "$REPS"); do
  if [ $((r % 2)) = 1 ]; then order="brook redis"; else order="redis brook"; fi
  for t in $order; do
    run "$t" "$r" | sed "s/^/$t|/" >>"$OUT/results"
    echo "rep $r $t done" >&2
  done
done

python3 - "$OUT/results" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(lambda: collections.defaultdict(list))
order = []
for line in open(sys.argv[1]):
    t, label, test, v = line.rstrip("\n").split("|")
    key = (label, test)
    if key not in order:
        order.append(key)
    rows[key][t].append(float(v))
# Each repetition runs both servers back to back: the ratio within a
# repetition is less exposed to the machine's drift than the ratio of the
# medians, so both are given.
print("| pipeline | test | Brook (median) | Redis (median) | Brook / Redis | median of paired ratios | paired ratios |")
print("|---|---|---:|---:|---:|---:|---|")
for key in order:
    bs, rs = rows[key]["brook"], rows[key]["redis"]
    b = statistics.median(bs) if bs else 0
    r = statistics.median(rs) if rs else 0
    paired = [x / y for x, y in zip(bs, rs) if y]
    pm = statistics.median(paired) if paired else 0
    each = " ".join(f"{x:.2f}" for x in paired)
    print(f"| {key[0]} | {key[1]} | {b:,.0f} | {r:,.0f} | {b / r if r else 0:.2f}x | {pm:.2f}x | {each} |")
PY
echo "raw results: $OUT/results" >&2
