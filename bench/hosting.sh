#!/usr/bin/env bash
# Static hosting features under load, in one run (`make bench` calls it; `bash bench/hosting.sh`
# alone after `make release`): a 300 KB JavaScript bundle as it is, brotli and gzip (req/s and
# bytes on the wire per answer), a 2 KB file with and without compression asked for (what
# compressing costs a cached file), and a path answered by `_redirects` with 5 rules and with
# 50 000 (the lookup must not grow with the table). wrk -t1 -c50, not pinned.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${BENCH_DURATION:-10s}
WRK_THREADS=1
CONNS=${BENCH_CONNECTIONS:-50}
BIN=$PWD/target/release/cc-server

work=$(mktemp -d)
cleanup() {
  [ -n "${cc:-}" ] && kill "$cc" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

sites=$work/data/sites
mkdir -p "$sites/assets" "$sites/few" "$sites/many"
# A bundle-like file: repetitive source text, as minified JavaScript is.
python3 - "$sites/assets/bundle.js" <<'PY'
import random, sys
random.seed(7)
words = ["function", "return", "const", "let", "this", "props", "state", "render", "map",
         "filter", "=>", "{", "}", "(", ")", ";", "null", "undefined", "true", "false"]
out = []
size = 0
while size < 300 * 1024:
    w = random.choice(words) + random.choice(["", " ", "", "."]) + "x%d" % random.randint(0, 500)
    out.append(w)
    size += len(w) + 1
open(sys.argv[1], "w").write(" ".join(out)[:300 * 1024])
PY
head -c 2048 /dev/urandom | base64 -w 76 | head -c 2048 > "$sites/assets/2k.html"
for s in few many; do echo "<h1>$s</h1>" > "$sites/$s/index.html"; done
# 5 rules, the matched one last; and 50 000 spread over first segments, the matched one last.
{ for i in 1 2 3 4; do echo "/old$i/*  /new$i/:splat  301"; done; echo "/go/*  /gone/:splat  301"; } > "$sites/few/_redirects"
python3 - "$sites/many/_redirects" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(49_999):
        f.write(f"/section{i % 5000}/page{i}/*  /moved/{i}/:splat  301\n")
    f.write("/go/*  /gone/:splat  301\n")
PY

"$BIN" serve --port 0 --bind 127.0.0.1 --data-dir "$work/data" --max-per-address 20000 \
  >"$work/out" 2>"$work/err" &
cc=$!
for _ in $(seq 400); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/out" | head -1)
url=http://127.0.0.1:$port

# Bytes of one answer's body for an Accept-Encoding (warms the compressed copy too).
body_bytes() { curl -fsS -H "Host: assets.localhost" -H "Accept-Encoding: $2" -o - "$url$1" | wc -c; }
id_bytes=$(body_bytes /bundle.js identity)
br_bytes=$(body_bytes /bundle.js br)
gz_bytes=$(body_bytes /bundle.js gzip)
curl -fsS -o /dev/null -H 'Host: few.localhost' "$url/go/x"
curl -fsS -o /dev/null -H 'Host: many.localhost' "$url/go/x"
sleep 1

# wrk's -H adds a header; `load` takes the Host, so the encoding goes in through WRK_PREFIX's
# sibling: a tiny wrapper that adds one more -H.
load_enc() { # $1 = path, $2 = Accept-Encoding
  wrk -t1 -c"$CONNS" -d"$DURATION" --latency -H "Host: assets.localhost" -H "Accept-Encoding: $2" \
    "$url$1" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ { rps = $2 } $1 == "99%" { p99 = ms($2) } / Non-2xx/ { bad = $NF }
    END { printf "%.0f %.2f %s\n", rps, p99, (bad ? bad : 0) }'
}
read -r id_rps id_p99 _ < <(load_enc /bundle.js identity)
read -r br_rps br_p99 _ < <(load_enc /bundle.js br)
read -r gz_rps gz_p99 _ < <(load_enc /bundle.js gzip)
read -r k2_rps k2_p99 _ < <(load_enc /2k.html identity)
read -r k2b_rps k2b_p99 _ < <(load_enc /2k.html "gzip, deflate, br")
# Redirect answers are 301s: wrk counts them as non-2xx, which is expected here.
read -r few_rps _ few_p99 _ < <(load "$url/go/deep/path" few.localhost)
read -r many_rps _ many_p99 _ < <(load "$url/go/deep/path" many.localhost)
read -r fewf_rps _ _ _ < <(load "$url/" few.localhost)
read -r manyf_rps _ _ _ < <(load "$url/" many.localhost)

mb() { awk -v b="$1" -v r="$2" 'BEGIN { printf "%.0f MB/s", b * r / 1e6 }'; }
cat <<TABLE

Static hosting (cc-server, same run, wrk -t1 -c$CONNS $DURATION)
| case | req/s | p99 ms | body bytes | on the wire | ratio |
|---|---|---|---|---|---|
| 300 KB bundle.js, identity | $id_rps | $id_p99 | $id_bytes | $(mb "$id_bytes" "$id_rps") | 1× |
| 300 KB bundle.js, br | $br_rps | $br_p99 | $br_bytes | $(mb "$br_bytes" "$br_rps") | $(ratio "$br_rps" "$id_rps") req/s, $(ratio "$br_bytes" "$id_bytes") bytes |
| 300 KB bundle.js, gzip | $gz_rps | $gz_p99 | $gz_bytes | $(mb "$gz_bytes" "$gz_rps") | $(ratio "$gz_rps" "$id_rps") req/s, $(ratio "$gz_bytes" "$id_bytes") bytes |
| 2 KB page, no Accept-Encoding | $k2_rps | $k2_p99 | 2048 | | 1× |
| 2 KB page, Accept-Encoding: gzip, deflate, br | $k2b_rps | $k2b_p99 | | | $(ratio "$k2b_rps" "$k2_rps") (floor ≥ 0.9×) |
| _redirects hit, 5 rules | $few_rps | $few_p99 | | | 1× |
| _redirects hit, 50 000 rules | $many_rps | $many_p99 | | | $(ratio "$many_rps" "$few_rps") (floor ≥ 0.9×) |
| index.html beside 5 rules | $fewf_rps | | | | 1× |
| index.html beside 50 000 rules | $manyf_rps | | | | $(ratio "$manyf_rps" "$fewf_rps") |
TABLE
