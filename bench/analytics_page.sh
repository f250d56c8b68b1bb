#!/usr/bin/env bash
# The analytics page over 1 000 000 events (issue: < 500 ms on this machine): seeds a fresh
# data dir, starts the release binary, logs in with curl, and times GET /analytics.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/cc-server
EVENTS=${EVENTS:-1000000}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT

python3 bench/seed_events.py "$dir/cc.db" --events "$EVENTS" >/dev/null
CC_ADMIN_PASSWORD=bench-password-1 $BIN --port 0 --bind 127.0.0.1 --data-dir "$dir" \
  >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 100); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$dir/out" | head -1)
base="http://localhost:$port"
jar="$dir/cookies"
curl -s -o /dev/null -c "$jar" -H "Origin: $base" --data 'password=bench-password-1' "$base/login"

time_page() { curl -s -o /dev/null -b "$jar" -w '%{time_total}\n' "$base$1"; }
# The writer rolls finished days up a second after start; the first page may find it still busy.
first=$(time_page "/analytics?days=90")
sleep 3
for q in "/analytics?days=7" "/analytics?days=30" "/analytics?days=90" "/analytics?days=90&site=blog"; do
  samples=$(for _ in 1 2 3 4 5; do time_page "$q"; done | sort -n)
  median=$(echo "$samples" | sed -n 3p)
  max=$(echo "$samples" | tail -1)
  awk -v q="$q" -v m="$median" -v x="$max" 'BEGIN { printf "%-32s median %5.0f ms  (max %5.0f ms)\n", q, m*1000, x*1000 }' 
done
awk -v f="$first" 'BEGIN { printf "%-32s        %5.0f ms  (first request after start)\n", "/analytics?days=90", f*1000 }' 
echo "events: $EVENTS; floor: < 500 ms per page"
