#!/usr/bin/env python3
"""WebSocket fan-out for `make bench`: connects N clients to one site of a running cc-server,
measures the server's RSS growth for N idle clients, then the time from one broadcast (made
by main.js during an HTTP request) to its arrival at every client. Prints one line:
"<p50 ms> <p99 ms> <rss growth MB>"."""
import base64, os, resource, selectors, socket, statistics, sys, time, urllib.request

port, site, pid, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def rss_kb():
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))

def http(path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": f"{site}.localhost"})
    return urllib.request.urlopen(req, timeout=10).read().decode()

before = rss_kb()
clients = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: {site}.localhost\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1024)
    assert head.startswith(b"HTTP/1.1 101"), head[:40]
    clients.append(s)
for _ in range(200):
    if http("/") == str(n):
        break
    time.sleep(0.05)
time.sleep(1)
growth_mb = (rss_kb() - before) / 1024

sel = selectors.DefaultSelector()
for s in clients:
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
delays = []
for round_ in range(5):
    pending = set(clients)
    t0 = time.perf_counter()
    http(f"/?t={round_}")
    while pending:
        for key, _ in sel.select(timeout=5):
            s = key.fileobj
            if s in pending and s.recv(65536):
                delays.append((time.perf_counter() - t0) * 1000)
                pending.discard(s)
        if time.perf_counter() - t0 > 10:
            break
delays.sort()
p50 = statistics.median(delays)
p99 = delays[int(len(delays) * 0.99) - 1]
print(f"{p50:.1f} {p99:.1f} {growth_mb:.1f}")
