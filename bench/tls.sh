#!/usr/bin/env bash
# HTTPS against nginx, in one run (`make bench` calls it; `bash bench/tls.sh` alone after
# `make release`): the same 2 KB file with the same certificate and key (the leaf cc-server's
# private CA mints for bench.localhost, read back from cc.db) over keep-alive connections
# (wrk), then new connections each doing one full handshake and one request (a Python client,
# several processes, never offering resumption). Neither server is pinned; the clients share
# the same 2 cores. Besides req/s, each server's CPU time per request (from /proc) compares
# the servers without depending on how fast the client is.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-50}
CLIENTS=${BENCH_TLS_CLIENTS:-4}   # handshake client processes
BIN=${BENCH_BIN:-$PWD/target/release/cc-server}   # BENCH_BIN: another build of it
NAME=bench.localhost

# A binary from before HTTPS has no --https-port: build one then.
case "$("$BIN" serve --help 2>&1 || true)" in *--https-port*) ;; *) cargo build --release --locked ;; esac
need wrk wrk
need nginx nginx-light

work=$(mktemp -d)
cleanup() {
  [ -n "${cc:-}" ] && kill "$cc" 2>/dev/null
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

site=$work/data/sites/bench
mkdir -p "$site"
head -c 2048 /dev/urandom | base64 -w 76 | head -c 2048 > "$site/2k.html"
# nginx serves a copy: its worker runs as another user, and cc-server keeps its data dir 0700.
mkdir -p "$work/nginx-root" && cp "$site/2k.html" "$work/nginx-root/" && chmod -R a+rX "$work/nginx-root" && chmod a+x "$work"

"$BIN" serve --port 0 --https internal --https-port 0 --bind 127.0.0.1 --data-dir "$work/data" \
  --max-per-address 20000 >"$work/out" 2>"$work/err" &
cc=$!
for _ in $(seq 400); do grep -q 'listening on https' "$work/out" 2>/dev/null && break; sleep 0.05; done
tport=$(sed -n 's|^listening on https://.*:\([0-9]*\)$|\1|p' "$work/out")
[ -n "$tport" ] || { echo "cc-server did not start with HTTPS:" >&2; cat "$work/err" >&2; exit 1; }
nport=$((tport + 1))

# bench.localhost need not resolve (glibc has no rule for *.localhost), so every client
# connects to 127.0.0.1 and sends the name only as SNI and Host. The first handshake mints the
# leaf; nginx then gets that chain (leaf, CA) and key from cc.db.
curl -fsSk --resolve "$NAME:$tport:127.0.0.1" -o /dev/null "https://$NAME:$tport/2k.html"
python3 - "$work/data/cc.db" "$work" "$NAME" <<'PY'
import sqlite3, sys
db, out, name = sys.argv[1:]
chain, key = sqlite3.connect(db).execute(
    "SELECT chain_pem, key_pem FROM certificates WHERE name = ?", (name,)).fetchone()
open(out + "/chain.pem", "w").write(chain)
open(out + "/key.pem", "w").write(key)
PY

# nginx as cc-server runs: 1 worker (as bench/run.sh), TLS 1.2 and 1.3, no access log (as
# run.sh's reference). Sessions: rustls' defaults in cc-server are a 256-entry in-memory
# session cache, no stateless tickets (TLS 1.3 tickets are ids into that cache); the nearest
# nginx is a shared cache (1 MB, ~4 000 sessions) with ssl_session_tickets off, which makes
# OpenSSL send stateful TLS 1.3 tickets too. Neither is used: no client here resumes.
cat > "$work/nginx.conf" <<CONF
worker_processes 1; pid $work/nginx.pid; error_log $work/nginx.err; daemon on;
events { worker_connections 4096; }
http { access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:1m; ssl_session_tickets off;
  server { listen 127.0.0.1:$nport ssl; server_name $NAME; root $work/nginx-root;
    ssl_certificate $work/chain.pem; ssl_certificate_key $work/key.pem; } }
CONF
nginx -c "$work/nginx.conf"
for _ in $(seq 100); do [ -s "$work/nginx.pid" ] && break; sleep 0.05; done
ngx_master=$(cat "$work/nginx.pid")
curl -fsSk --resolve "$NAME:$nport:127.0.0.1" -o /dev/null "https://$NAME:$nport/2k.html"
# Same certificate on both: compare the leaf's fingerprint as each server presents it.
fp() { openssl s_client -connect "127.0.0.1:$1" -servername "$NAME" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256; }
[ "$(fp "$tport")" = "$(fp "$nport")" ] || { echo "nginx and cc-server present different certificates" >&2; exit 1; }

# CPU seconds (user + system, all threads) of a server: cc-server's process, or nginx's master
# and worker.
cpu_ticks() { for p in "$@"; do awk '{ print $14 + $15 }' "/proc/$p/stat"; done | awk '{ s += $1 } END { print s }'; }
hz=$(getconf CLK_TCK)
ngx_pids() { echo "$ngx_master" $(ps -o pid= --ppid "$ngx_master"); }
# Runs "$@" (a load printing "rate ..." first) while counting the server's CPU; prints the
# load's output followed by the server's CPU µs per request.
with_cpu() { # $1 = "cc" or "nginx", then the command
  local who=$1; shift
  local pids; if [ "$who" = cc ]; then pids=$cc; else pids=$(ngx_pids); fi
  local t0 t1 out; t0=$(cpu_ticks $pids)
  out=$("$@")
  t1=$(cpu_ticks $pids)
  echo "$out $(awk -v d=$((t1 - t0)) -v hz="$hz" -v r="${out%% *}" -v s="${DURATION%s}" \
    'BEGIN { if (r > 0) printf "%.0f", d / hz * 1e6 / (r * s); else print "?" }')"
}

# wrk over keep-alive connections. wrk takes SNI and Host from the URL, and resolves its host
# through wrk.resolve, which this script points at 127.0.0.1.
cat > "$work/sni.lua" <<'LUA'
function wrk.resolve(host, service) wrk.addrs = wrk.lookup("127.0.0.1", service) end
LUA
wrk_tls() { # $1 = port → "rps p50 p99 non2xx socket_errors"
  wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "$work/sni.lua" "https://$NAME:$1/2k.html" \
    > "$work/wrk-$1.out"
  awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    / Non-2xx/ { bad = $NF }
    /Socket errors/ { gsub(",", ""); errs = $4 + $6 + $8 + $10 }
    END { printf "%.0f %.2f %.2f %d %d\n", rps, p50, p99, bad, errs }' "$work/wrk-$1.out"
}

# New connections: each does a full handshake (a fresh SSL object with no session to offer,
# and no ticket asked for in TLS 1.2), sends one GET with `Connection: close` and reads to the
# end. wrk cannot do this: it keeps one SSL object per connection slot across reconnects
# (SSL_clear), so it offers the previous session and resumes.
handshakes() { # $1 = port, $2 = TLS version (1.2 or 1.3) → "rate p50 p99 failed resumed version cipher"
  python3 - "$1" "$2" "$NAME" "$CLIENTS" "${DURATION%s}" <<'PY'
import multiprocessing as mp, socket, ssl, sys, time
port, version, name, procs, secs = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
REQ = b"GET /2k.html HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % name.encode()

def client(end, out):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE          # the client verifies nothing (as wrk): both the same
    ctx.options |= ssl.OP_NO_TICKET
    ctx.set_alpn_protocols(["http/1.1"])
    v = ssl.TLSVersion.TLSv1_2 if version == "1.2" else ssl.TLSVersion.TLSv1_3
    ctx.minimum_version = ctx.maximum_version = v
    lat, failed, resumed, seen = [], 0, 0, ""
    while time.monotonic() < end:
        t0 = time.monotonic()
        data = b""
        try:
            with socket.create_connection(("127.0.0.1", port)) as raw:
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with ctx.wrap_socket(raw, server_hostname=name) as s:
                    resumed += s.session_reused
                    seen = "%s %s" % (s.version(), s.cipher()[0])
                    s.sendall(REQ)
                    while True:
                        try:
                            chunk = s.recv(65536)
                        except (ssl.SSLEOFError, ConnectionResetError):
                            break                # closed without close_notify: the answer is in
                        if not chunk:
                            break
                        data += chunk
        except OSError:
            pass
        if data.startswith(b"HTTP/1.1 200") and len(data) > 2048:
            lat.append(time.monotonic() - t0)
        else:
            failed += 1
    out.send((lat, failed, resumed, seen))

end = time.monotonic() + secs
pipes = []
fork = mp.get_context("fork")  # this script comes from stdin: spawned children could not import it
for _ in range(procs):
    r, w = fork.Pipe(False)
    fork.Process(target=client, args=(end, w)).start()
    pipes.append(r)
results = [r.recv() for r in pipes]
lat = sorted(x for r in results for x in r[0])
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0
print("%.0f %.2f %.2f %d %d %s" % (len(lat) / secs, pct(0.5), pct(0.99),
      sum(r[1] for r in results), sum(r[2] for r in results),
      next((r[3] for r in results if r[3]), "? ?").replace(" ", "/")))
PY
}

sleep 1
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
read -r ck_rps ck_p50 ck_p99 ck_bad ck_err ck_cpu < <(with_cpu cc wrk_tls "$tport")
read -r nk_rps nk_p50 nk_p99 nk_bad nk_err nk_cpu < <(with_cpu nginx wrk_tls "$nport")
read -r ch_rps ch_p50 ch_p99 ch_bad ch_res ch_ver ch_cpu < <(with_cpu cc handshakes "$tport" 1.3)
read -r nh_rps nh_p50 nh_p99 nh_bad nh_res nh_ver nh_cpu < <(with_cpu nginx handshakes "$nport" 1.3)
read -r c2_rps c2_p50 c2_p99 c2_bad c2_res c2_ver c2_cpu < <(with_cpu cc handshakes "$tport" 1.2)
read -r n2_rps n2_p50 n2_p99 n2_bad n2_res n2_ver n2_cpu < <(with_cpu nginx handshakes "$nport" 1.2)
relays=$(grep -l '^tls-relay' /proc/$cc/task/*/comm 2>/dev/null | wc -l)
threads=$(ls /proc/$cc/task | wc -l)

# "0.83× nginx (1234); floor 0.5×", with a mark when under the floor.
vs() { # $1 = cc-server, $2 = nginx, $3 = floor
  local r; r=$(ratio "$1" "$2")
  echo "$r nginx ($2); floor $3×$(awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { if (b > 0 && a / b < f) print " — BELOW FLOOR" }')"
}
# How busy a server was, in % of one core: rate × CPU per request.
busy() { awk -v r="$1" -v c="$2" 'BEGIN { if (c ~ /^[0-9]+$/) printf "%.0f%%", r * c / 1e4; else print "?" }'; }
row() { printf '%-34s %10s %9s %9s %8s   %s\n' "$@"; }
printf '\nHTTPS, same 2 KB file and certificate (ECDSA P-256), neither pinned, clients on the same 2 cores (load average %s)\n' "$load_before"
# (The CPU header is one byte wider: "µ" takes two bytes and printf counts bytes.)
printf '%-34s %10s %9s %9s %9s   %s\n' "case ($DURATION each)" "req/s" "p50 ms" "p99 ms" "CPU µs" "floor / reference (CPU µs: the server's CPU time per request)"
row "keep-alive, cc-server" "$ck_rps" "$ck_p50" "$ck_p99" "$ck_cpu" "$(vs "$ck_rps" "$nk_rps" 0.5); CPU $(ratio "$ck_cpu" "$nk_cpu") nginx's"
row "keep-alive, nginx 1 worker" "$nk_rps" "$nk_p50" "$nk_p99" "$nk_cpu" "wrk -t2 -c$CONNS (TLS 1.3)"
row "new TLS 1.3 handshakes, cc-server" "$ch_rps" "$ch_p50" "$ch_p99" "$ch_cpu" "$(vs "$ch_rps" "$nh_rps" 0.5); CPU $(ratio "$ch_cpu" "$nh_cpu") nginx's"
row "new TLS 1.3 handshakes, nginx" "$nh_rps" "$nh_p50" "$nh_p99" "$nh_cpu" "$CLIENTS client processes, a GET per connection, $nh_ver"
row "new TLS 1.2 handshakes, cc-server" "$c2_rps" "$c2_p50" "$c2_p99" "$c2_cpu" "$(vs "$c2_rps" "$n2_rps" 0.5); CPU $(ratio "$c2_cpu" "$n2_cpu") nginx's"
row "new TLS 1.2 handshakes, nginx" "$n2_rps" "$n2_p50" "$n2_p99" "$n2_cpu" "$n2_ver"
echo "cc-server: $relays TLS relay threads, $threads threads in all (defaults); nginx: 1 worker, ssl_session_cache shared:1m, tickets off"
# The client's handshake costs more CPU than either server's, so on 2 shared cores it sets the
# pace: the CPU column is the fairer comparison there.
echo "busy during TLS 1.3 handshakes (% of one core): cc-server $(busy "$ch_rps" "$ch_cpu"), nginx $(busy "$nh_rps" "$nh_cpu");" \
  "under 100% for nginx means the client, not nginx, was the limit"
echo "errors: keep-alive non-2xx $ck_bad / $nk_bad, socket errors $ck_err / $nk_err (cc-server / nginx);" \
  "handshakes failed $ch_bad / $nh_bad (1.3), $c2_bad / $n2_bad (1.2); resumed $((ch_res + nh_res + c2_res + n2_res))"

# A run with failures or nothing measured is no measurement.
fail=0
for v in "$ck_rps" "$nk_rps" "$ch_rps" "$nh_rps" "$c2_rps" "$n2_rps"; do [ "$v" -gt 0 ] || fail=1; done
[ $((ck_bad + nk_bad + ch_bad + nh_bad + c2_bad + n2_bad + ch_res + nh_res + c2_res + n2_res)) = 0 ] || fail=1
for p in "$tport" "$nport"; do
  if [ "$(awk '/Socket errors/' "$work/wrk-$p.out")" ]; then echo "wrk on port $p:" >&2; cat "$work/wrk-$p.out" >&2; fi
done
[ $fail = 0 ] || { echo "HTTPS bench: failed requests, resumed sessions or no throughput (see above)" >&2; exit 1; }
