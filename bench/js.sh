#!/usr/bin/env bash
# main.js against its references, in one run (`make bench` calls it; `bash bench/js.sh` alone
# after `make release`): the counter app on cc-server and the same counter on Node.js with
# better-sqlite3 (bench/counter-node.js), then a main.js that only answers "ok" and the bare
# tiny_http hello world. Neither side is pinned; wrk -t1 -c50, as the issue measured. Prints a
# table of ratios, and fails if a counter's final value is not its number of 200 answers.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${BENCH_DURATION:-10s}
WRK_THREADS=1
CONNS=${BENCH_CONNECTIONS:-50}
BIN=$PWD/target/release/cc-server
HELLO=$PWD/target/release/examples/hello
NODE_DIR=${BENCH_NODE_DIR:-$PWD/target/bench-node}

[ -x "$HELLO" ] || cargo build --release --locked -q -p tiny_http_fork --example hello
have_node=no
if command -v node >/dev/null && command -v npm >/dev/null; then
  if [ ! -d "$NODE_DIR/node_modules/better-sqlite3" ]; then
    echo "installing better-sqlite3@12 into $NODE_DIR (npm)…" >&2
    mkdir -p "$NODE_DIR" && (cd "$NODE_DIR" && npm install --silent --no-audit --no-fund better-sqlite3@12 >/dev/null 2>&1) || true
  fi
  [ -d "$NODE_DIR/node_modules/better-sqlite3" ] && have_node=yes
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The resident memory of a process and all its children, in MB, sampled every 0.2 s while
# `$2` (a pid) runs; prints the peak.
peak_rss_mb() {
  local root=$1 watch=$2 peak=0 now
  while kill -0 "$watch" 2>/dev/null; do
    now=$(ps -o rss= --ppid "$root" -p "$root" | awk '{ s += $1 } END { print int(s / 1024) }')
    [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.2
  done
  echo "$peak"
}
# Runs `load` in the background and samples the RSS of process tree $1 meanwhile.
load_with_rss() { # $1 = pid, $2 = url, $3 = host → "rps p50 p99 bad rss_mb"
  load "$2" "$3" > "$work/load.out" &
  local w=$!
  local rss; rss=$(peak_rss_mb "$1" "$w")
  wait "$w"
  echo "$(cat "$work/load.out") $rss"
}

mkdir -p "$work/data/sites/counter" "$work/data/sites/ok"
cat > "$work/data/sites/counter/main.js" <<'JS'
let count = db.get("visits") || 0;
count++;
db.set("visits", count);
res.json({ visits: count });
JS
echo 'res.send("ok");' > "$work/data/sites/ok/main.js"
"$BIN" serve --port 0 --bind 127.0.0.1 --data-dir "$work/data" --max-per-address 20000 \
  >"$work/out" 2>"$work/err" &
cc=$!; pids+=("$cc")
for _ in $(seq 400); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/out" | head -1)
curl -fsS -o /dev/null -H 'Host: ok.localhost' "http://127.0.0.1:$port/"
sleep 1
idle_mb=$(ps -o rss= --ppid "$cc" -p "$cc" | awk '{ s += $1 } END { print int(s / 1024) }')
read -r c_rps c_p50 c_p99 c_bad c_rss < <(load_with_rss "$cc" "http://127.0.0.1:$port/" counter.localhost)
read -r ok_rps ok_p50 ok_p99 ok_bad _ < <(load_with_rss "$cc" "http://127.0.0.1:$port/" ok.localhost)
c_final=$(curl -fsS -H 'Host: counter.localhost' "http://127.0.0.1:$port/" | sed 's/[^0-9]//g')
kill -TERM "$cc"; wait "$cc" 2>/dev/null || true
# Every answered request has an access line; the last curl above is one of them.
c_200=$(grep -c '^GET counter.localhost / 200 ' "$work/err" || true)
js_us=$(sed -n 's/.* \([0-9]*\) µs each.*/\1/p' "$work/err" | tail -1)

"$HELLO" > "$work/hello.out" &
hello=$!; pids+=("$hello")
for _ in $(seq 400); do grep -q listening "$work/hello.out" 2>/dev/null && break; sleep 0.05; done
hport=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/hello.out" | head -1)
read -r h_rps h_p50 h_p99 _ < <(load "http://127.0.0.1:$hport/" localhost)
kill "$hello"

if [ "$have_node" = yes ]; then
  nport=$((port + 1))
  PORT=$nport MODE=sqlite DB="$work/node-kv.db" NODE_PATH="$NODE_DIR/node_modules" \
    node bench/counter-node.js 2>"$work/node.err" &
  node_pid=$!; pids+=("$node_pid")
  for _ in $(seq 100); do grep -q "on 127.0.0.1" "$work/node.err" 2>/dev/null && break; sleep 0.05; done
  curl -fsS -o /dev/null "http://127.0.0.1:$nport/"
  n_idle_mb=$(ps -o rss= -p "$node_pid" | awk '{ print int($1 / 1024) }')
  read -r n_rps n_p50 n_p99 n_bad n_rss < <(load_with_rss "$node_pid" "http://127.0.0.1:$nport/" localhost)
  kill "$node_pid"
fi

printf '\n%-34s %10s %9s %9s   %s\n' "main.js ($CONNS connections, $DURATION)" "req/s" "p50 ms" "p99 ms" "floor / reference"
if [ "$have_node" = yes ]; then
  printf '%-34s %10s %9s %9s   %s\n' "Node 20 + better-sqlite3 counter" "$n_rps" "$n_p50" "$n_p99" "reference; RSS ${n_idle_mb} MB idle, ${n_rss} MB peak"
fi
printf '%-34s %10s %9s %9s   %s\n' "main.js counter" "$c_rps" "$c_p50" "$c_p99" \
  "$(ratio "$c_rps" "${n_rps:-0}") of Node (floor 0.5×, goal 1×); p99 ≤ 2× Node's"
printf '%-34s %10s   %s\n' "  RSS, server + script workers" "${c_rss} MB" "peak (idle ${idle_mb} MB); ≤ Node's peak (${n_rss:-?} MB)"
printf '%-34s %10s   %s\n' "  counter == 200 answers" "$c_final" "$c_200 answered 200 (non-2xx: $c_bad)"
printf '%-34s %10s   %s\n' "  time inside the JS worker" "${js_us:-?} µs" "per main.js run, averaged over the run"
printf '%-34s %10s %9s %9s   %s\n' "tiny_http hello world" "$h_rps" "$h_p50" "$h_p99" "reference (one thread, as in tiny_http's README)"
printf '%-34s %10s %9s %9s   %s\n' "main.js res.send(\"ok\")" "$ok_rps" "$ok_p50" "$ok_p99" \
  "$(ratio "$ok_rps" "$h_rps") of tiny_http hello (floor 0.5×; non-2xx: $ok_bad)"
if [ "$c_final" != "$c_200" ]; then
  echo "LOST UPDATES: the counter says $c_final but $c_200 requests were answered 200" >&2
  exit 1
fi
