# Shared by bench/run.sh and bench/js.sh (sourced, not run).

# wrk → "req/s p50 p99 non2xx" (latencies in ms). $1 = url, $2 = Host header; CONNS,
# DURATION, WRK_THREADS (default 2) and WRK_PREFIX (e.g. "taskset -c 1") from the caller.
load() {
  ${WRK_PREFIX:-} wrk -t"${WRK_THREADS:-2}" -c"$CONNS" -d"$DURATION" --latency -H "Host: $2" "$1" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    / Non-2xx/ { bad = $NF }
    END { printf "%.0f %.2f %.2f %s\n", rps, p50, p99, (bad ? bad : 0) }'
}

# "1.23×": $1 / $2, or "?" without a reference.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a/b; else print "?" }'; }

# `need CMD PACKAGE`: installs PACKAGE with apt-get when CMD is missing.
need() {
  command -v "$1" >/dev/null && return
  echo "installing $2 (apt-get)…" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  else sudo apt-get update -qq >/dev/null; sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; fi
}
