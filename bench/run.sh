#!/usr/bin/env bash
# `make bench`: load-tests the release binary with wrk on loopback and prints one table, each
# number beside its floor from the issues. nginx (1 worker) serving the same file in the same
# run is the reference. Not part of `make test`: numbers vary with the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-50}
BIN=$PWD/target/release/cc-server

need wrk wrk
command -v nginx >/dev/null || need nginx nginx-light || true

work=$(mktemp -d)
cleanup() {
  [ -n "${cc_pid:-}" ] && kill "$cc_pid" 2>/dev/null
  for p in "$work"/nginx-*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

site="$work/data/sites/bench"
mkdir -p "$site"
head -c 2048 /dev/urandom | base64 -w 76 | head -c 2048 > "$site/2k.html"
head -c 102400 /dev/urandom > "$site/100k.bin"
# nginx serves copies: its worker runs as another user, and cc-server keeps its data dir 0700.
nginx_root="$work/nginx-root"
mkdir -p "$nginx_root" && cp "$site"/* "$nginx_root"/ && chmod -R a+rX "$nginx_root" && chmod a+x "$work"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# cc-server: access log to /dev/null (a terminal would be the bottleneck, not the server).
"$BIN" serve --port 0 --bind 127.0.0.1 --data-dir "$work/data" --max-upload-mb 300 --max-unpacked-mb 1000 \
  --max-ws-per-site 2000 --max-ws-per-address 2000 --max-per-address 20000 \
  >"$work/out" 2>"$work/err" &
cc_pid=$!
for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/out" | head -1)
curl -fsS -o /dev/null -H 'Host: bench.localhost' "http://127.0.0.1:$port/2k.html"
sleep 1
idle_rss=$(rss_kb $cc_pid)


read -r s2_rps s2_p50 s2_p99 s2_bad < <(load "http://127.0.0.1:$port/2k.html" bench.localhost)
read -r s100_rps s100_p50 s100_p99 s100_bad < <(load "http://127.0.0.1:$port/100k.bin" bench.localhost)
loaded_rss=$(hwm_kb $cc_pid)
# The same with every server thread on core 0 and wrk on core 1: throughput per core.
taskset -a -pc 0 $cc_pid >/dev/null
read -r p2_rps p2_p50 p2_p99 _ < <(WRK_PREFIX="taskset -c 1" load "http://127.0.0.1:$port/2k.html" bench.localhost)
read -r p100_rps p100_p50 p100_p99 _ < <(WRK_PREFIX="taskset -c 1" load "http://127.0.0.1:$port/100k.bin" bench.localhost)
taskset -a -pc 0,1 $cc_pid >/dev/null

# nginx, 1 worker, on the same files: once as tuned as it gets (no access log), once as
# Debian ships it (an access log line per request, as cc-server writes one and an event).
nginx_run() { # $1 = port, $2 = access_log directive, $3 = file → "rps p50 p99 bad"
  cat > "$work/nginx-$1.conf" <<CONF
worker_processes 1; pid $work/nginx-$1.pid; error_log $work/nginx.err; daemon on;
events { worker_connections 1024; }
http { $2 sendfile on; tcp_nopush on;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen 127.0.0.1:$1; root $nginx_root; } }
CONF
  ${NGINX_PREFIX:-} nginx -c "$work/nginx-$1.conf" 2>/dev/null || return 1
  sleep 0.3
  local out; out=$(load "http://127.0.0.1:$1/${3:-2k.html}" localhost)
  kill "$(cat "$work/nginx-$1.pid")"
  # A reference that answered errors is no reference.
  if [ "$(echo "$out" | awk '{print $4}')" != 0 ]; then echo "nginx answered non-2xx: $out" >&2; return 1; fi
  echo "$out"
}
have_nginx=no
if command -v nginx >/dev/null; then
  read -r n_rps n_p50 n_p99 _ < <(nginx_run $((port + 1)) "access_log off;") && have_nginx=yes
  read -r nl_rps nl_p50 nl_p99 _ < <(nginx_run $((port + 2)) "access_log $work/access.log;") || true
  read -r np2_rps _ _ _ < <(NGINX_PREFIX="taskset -c 0" WRK_PREFIX="taskset -c 1" nginx_run $((port + 3)) "access_log off;") || true
  read -r np100_rps _ _ _ < <(NGINX_PREFIX="taskset -c 0" WRK_PREFIX="taskset -c 1" nginx_run $((port + 4)) "access_log off;" 100k.bin) || true
  read -r n100_rps _ _ _ < <(nginx_run $((port + 5)) "access_log off;" 100k.bin) || true
fi

# Deploys through the real CLI: a 1 000-file, 20 MB site, then a 200 MB upload while
# watching the server's peak RSS (reset first through clear_refs).
token=$("$BIN" keys create --name bench --data-dir "$work/data" | tail -1)
mkdir -p "$work/site1000"
for i in $(seq 1000); do head -c 20480 /dev/urandom > "$work/site1000/f$i.bin"; done
t0=$(date +%s.%N)
(cd "$work/site1000" && "$BIN" deploy many --server "http://127.0.0.1:$port" --token "$token" >/dev/null 2>&1)
t1=$(date +%s.%N)
deploy_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
mkdir -p "$work/big" && head -c $((200 * 1024 * 1024)) /dev/urandom > "$work/big/blob.bin"
echo 5 > "/proc/$cc_pid/clear_refs" 2>/dev/null || true
before_kb=$(rss_kb $cc_pid)
t0=$(date +%s.%N)
(cd "$work/big" && "$BIN" deploy big --server "http://127.0.0.1:$port" --token "$token" >/dev/null 2>&1) || echo "big deploy failed" >&2
t1=$(date +%s.%N)
big_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
growth_mb=$(( ($(hwm_kb $cc_pid) - before_kb) / 1024 ))

# main.js: the README's counter; then the same load on another site's script while a
# `while(true){}` site is hit continuously.
mkdir -p "$work/data/sites/counter" "$work/data/sites/spin" "$work/data/sites/other"
cat > "$work/data/sites/counter/main.js" <<'JS'
let count = db.get("visits") || 0;
count++;
db.set("visits", count);
res.json({ visits: count });
JS
cp "$work/data/sites/counter/main.js" "$work/data/sites/other/main.js"
echo 'while (true) {}' > "$work/data/sites/spin/main.js"
curl -fsS -o /dev/null -H 'Host: counter.localhost' "http://127.0.0.1:$port/"
read -r c_rps c_p50 c_p99 c_bad < <(load "http://127.0.0.1:$port/" counter.localhost)
( end=$((SECONDS + ${DURATION%s} + 2)); while [ $SECONDS -lt $end ]; do
    curl -s -o /dev/null -H 'Host: spin.localhost' "http://127.0.0.1:$port/"; done ) &
attacker=$!
read -r a_rps a_p50 a_p99 a_bad < <(load "http://127.0.0.1:$port/" other.localhost)
kill $attacker 2>/dev/null; wait $attacker 2>/dev/null || true

# A site whose script legally spends 90 ms per request, flooded by 50 connections: the static
# site and the counter, measured during the flood, against their own numbers above.
mkdir -p "$work/data/sites/slow"
echo 'let t = Date.now(); while (Date.now() - t < 90) {} res.send("slow");' > "$work/data/sites/slow/main.js"
wrk -t1 -c50 -d$(( ${DURATION%s} * 2 + 4 ))s -H 'Host: slow.localhost' "http://127.0.0.1:$port/" >/dev/null 2>&1 &
flood=$!
sleep 1
read -r fs_rps fs_p50 fs_p99 _ < <(load "http://127.0.0.1:$port/2k.html" bench.localhost)
read -r fc_rps fc_p50 fc_p99 _ < <(load "http://127.0.0.1:$port/" counter.localhost)
kill $flood 2>/dev/null; wait $flood 2>/dev/null || true

# 10 000 idle connections (sending nothing): the server's RSS growth, and a new client's p99.
before_idle=$(rss_kb $cc_pid)
python3 bench/idle_conns.py "$port" 10000 120 > "$work/idle.out" &
idler=$!
for _ in $(seq 600); do grep -q open "$work/idle.out" 2>/dev/null && break; sleep 0.1; done
sleep 1
idle_growth=$(( ($(rss_kb $cc_pid) - before_idle) / 1024 ))
read -r ic_rps ic_p50 ic_p99 _ < <(CONNS=10 load "http://127.0.0.1:$port/2k.html" bench.localhost)
kill $idler 2>/dev/null; wait $idler 2>/dev/null || true

# WebSocket fan-out: 1 000 clients of one site, one broadcast from main.js to all of them.
mkdir -p "$work/data/sites/fan"
echo 'if (req.query.t) socket.broadcast(req.query.t); res.send(String(socket.clients()));' \
  > "$work/data/sites/fan/main.js"
read -r ws_p50 ws_p99 ws_rss < <(python3 bench/ws_fanout.py "$port" fan "$cc_pid" 1000 || echo "? ? ?")

size_kb=$(( $(stat -c %s "$BIN") / 1024 ))
kill -TERM $cc_pid; wait $cc_pid 2>/dev/null || true; cc_pid=
js_us=$(sed -n 's/.* \([0-9]*\) µs each.*/\1/p' "$work/err" | tail -1)
analytics_ms=$(bash bench/analytics_page.sh 2>/dev/null | awk '$1 == "/analytics?days=90" && $2 == "median" { print $3; exit }')
printf '\n%-34s %10s %9s %9s   %s\n' "case ($CONNS connections, $DURATION)" "req/s" "p50 ms" "p99 ms" "floor / reference"
printf '%-34s %10s %9s %9s   %s\n' "static 2 KB (keep-alive)" "$s2_rps" "$s2_p50" "$s2_p99" "≥ 60% of nginx, p99 < 5 ms (non-2xx: $s2_bad)"
printf '%-34s %10s %9s %9s   %s\n' "static 100 KB (keep-alive)" "$s100_rps" "$s100_p50" "$s100_p99" "(non-2xx: $s100_bad)"
if [ "$have_nginx" = yes ]; then
  pct=$(awk -v a="$s2_rps" -v b="$n_rps" 'BEGIN { printf "%.0f", 100*a/b }')
  pctl=$(awk -v a="$s2_rps" -v b="${nl_rps:-0}" 'BEGIN { if (b > 0) printf "%.0f", 100*a/b; else print "?" }')
  printf '%-34s %10s %9s %9s   %s\n' "nginx 1 worker, 2 KB, no log" "$n_rps" "$n_p50" "$n_p99" "cc-server is ${pct}% of this"
  printf '%-34s %10s %9s %9s   %s\n' "nginx 1 worker, 2 KB, access log" "${nl_rps:-?}" "${nl_p50:-?}" "${nl_p99:-?}" "cc-server is ${pctl}% of this"
else
  printf '%-34s %s\n' "nginx reference" "(nginx not installed)"
fi
printf '%-34s %10s %9s %9s   %s\n' "static 2 KB, server on 1 core" "$p2_rps" "$p2_p50" "$p2_p99" "$(ratio "$p2_rps" "${np2_rps:-0}") nginx pinned (${np2_rps:-?}); floor 0.6×"
printf '%-34s %10s %9s %9s   %s\n' "static 100 KB, server on 1 core" "$p100_rps" "$p100_p50" "$p100_p99" "$(ratio "$p100_rps" "${np100_rps:-0}") nginx pinned (${np100_rps:-?}); floor 0.8×"
printf '%-34s %10s   %s\n' "  2 KB / 100 KB, both cores" "$(ratio "$s2_rps" "${n_rps:-0}") / $(ratio "$s100_rps" "${n100_rps:-0}")" "of nginx 1 worker (floor 1× for 2 KB)"
printf '%-34s %10s %9s %9s   %s\n' "static 2 KB during 90 ms-site flood" "$fs_rps" "$fs_p50" "$fs_p99" "$(ratio "$fs_rps" "$s2_rps") of its baseline (floor 0.7×), p99 ≤ 3× ($s2_p99)"
printf '%-34s %10s %9s %9s   %s\n' "counter during 90 ms-site flood" "$fc_rps" "$fc_p50" "$fc_p99" "$(ratio "$fc_rps" "$c_rps") of its baseline (floor 0.5×), p99 ≤ 5× ($c_p99)"
printf '%-34s %10s %9s %9s   %s\n' "10 000 idle conns: new clients" "$ic_rps" "$ic_p50" "$ic_p99" "p99 < 10 ms (10 connections)"
printf '%-34s %10s   %s\n' "  RSS growth for 10 000 idle" "${idle_growth} MB" "< 60 MB"
printf '%-34s %10s %9s %9s   %s\n' "main.js counter (db get+set)" "$c_rps" "$c_p50" "$c_p99" "≥ 3 000 req/s, p99 < 30 ms (non-2xx: $c_bad)"
printf '%-34s %10s %9s %9s   %s\n' "  same, while(true) site attacked" "$a_rps" "$a_p50" "$a_p99" "other site's p99 < 50 ms (non-2xx: $a_bad)"
printf '%-34s %10s   %s\n' "  time inside the JS worker" "${js_us:-?} µs" "per main.js run, averaged over the run"
printf '%-34s %10s %9s %9s   %s\n' "websocket fan-out, 1 000 clients" "" "$ws_p50" "$ws_p99" "broadcast → every client, p99 < 100 ms"
printf '%-34s %10s   %s\n' "  RSS for 1 000 idle clients" "${ws_rss} MB" "< 50 MB above idle"
printf '%-34s %10s   %s\n' "idle RSS" "$((idle_rss / 1024)) MB" "≤ 15 MB"
printf '%-34s %10s   %s\n' "peak RSS under load" "$((loaded_rss / 1024)) MB" ""
printf '%-34s %10s   %s\n' "deploy 1 000 files, 20 MB (CLI)" "${deploy_s} s" "zip + upload + unpack + swap"
printf '%-34s %10s   %s\n' "deploy 200 MB upload (CLI)" "${big_s} s" ""
printf '%-34s %10s   %s\n' "server RSS growth during it" "${growth_mb} MB" "< 30 MB (streamed)"
printf '%-34s %10s   %s\n' "binary size (release, stripped)" "$((size_kb / 1024)) MB" ""
printf '%-34s %10s   %s\n' "analytics page, 90 days, 1M events" "${analytics_ms:-?} ms" "< 500 ms (bench/analytics_page.sh)"
