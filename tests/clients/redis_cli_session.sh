#!/usr/bin/env bash
# A scripted redis-cli session against a running server: every reply is
# checked. Usage: redis_cli_session.sh PORT
set -euo pipefail
port="$1"
cli() { redis-cli -p "$port" "$@"; }
expect() {
  local want="$1"; shift
  local got
  got="$(cli "$@")"
  if [[ "$got" != "$want" ]]; then
    echo "redis-cli $*: expected [$want], got [$got]" >&2
    exit 1
  fi
}
expect PONG PING
expect 1-1 XADD cli:s 1-1 sensor 7
expect 2-1 XADD cli:s 2-1 sensor 8
expect 2 XLEN cli:s
expect "$(printf '1-1\nsensor\n7\n2-1\nsensor\n8')" XRANGE cli:s - +
expect OK XGROUP CREATE cli:s g 0
expect "$(printf 'cli:s\n1-1\nsensor\n7')" XREADGROUP GROUP g c1 COUNT 1 STREAMS cli:s '>'
expect 1 XACK cli:s g 1-1
expect stream TYPE cli:s
expect "ERR unknown command 'NOPE', with args beginning with: 'x' " NOPE x
# Pipelined input, as `redis-cli --pipe` sends it.
printf 'XADD cli:p * a 1\r\nXADD cli:p * a 2\r\nXADD cli:p * a 3\r\n' | cli --pipe >/dev/null
expect 3 XLEN cli:p
# Interactive-style input on stdin, several commands.
out="$(printf 'PING\nXLEN cli:s\n' | cli)"
[[ "$out" == "$(printf 'PONG\n2')" ]] || { echo "stdin session: [$out]" >&2; exit 1; }
expect 2 DEL cli:s cli:p
echo "redis-cli session: ok"
