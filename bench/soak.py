#!/usr/bin/env python3
"""`make soak`: the release binary under mixed load for SOAK_MINUTES (default 10).

Load, all at once: a static site, the counter main.js, a WebSocket chat (clients that send and
read), a deploy through the real CLI every 30 s, dashboard pages and /health, and an attacker
site whose main.js never ends. Every minute it prints the server's RSS (with its script
workers), threads and open files, and the errors seen; at the end it checks that they stayed
flat after the first minute and that nothing but the attacker's 503s failed.
Standard library only."""

import base64
import http.client
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "cc-server")
MINUTES = float(os.environ.get("SOAK_MINUTES", "10"))

errors = {}
counts = {}
lock = threading.Lock()
stop = threading.Event()


def note(table, key, n=1):
    with lock:
        table[key] = table.get(key, 0) + n


def get(port, host, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"Host": host, **(headers or {})})
        r = c.getresponse()
        body = r.read()
        return r.status, body
    finally:
        c.close()


def load(port, name, host, paths, expected):
    """One client asking `host` for `paths` in turn until the end, counting answers other
    than `expected` (and failures) as errors."""
    while not stop.is_set():
        try:
            status, _ = get(port, host, random.choice(paths))
            note(counts, name)
            if status != expected:
                note(errors, f"{name} {status}")
        except Exception as e:  # noqa: BLE001 - a soak counts every kind of failure
            note(errors, f"{name} {type(e).__name__}")


def dashboard_load(port):
    while not stop.is_set():
        for path in ["/health", "/login"]:
            try:
                status, _ = get(port, "localhost", path)
                note(counts, "dashboard")
                if status != 200:
                    note(errors, f"dashboard {path} {status}")
            except Exception as e:  # noqa: BLE001
                note(errors, f"dashboard {type(e).__name__}")
        time.sleep(0.05)


def ws_frame(text):
    data = text.encode()
    mask = os.urandom(4)
    head = bytes([0x81, 0x80 | len(data)]) + mask  # short texts only
    return head + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def ws_chat(port, name):
    """A chat client: connects, says something twice a second, reads what comes; reconnects
    when dropped (each reconnect counts as an error)."""
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall(
                (f"GET /ws HTTP/1.1\r\nHost: chat.localhost\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(1024)
                if not chunk:
                    raise ConnectionError("closed during the handshake")
                head += chunk
            if b" 101 " not in head.split(b"\r\n")[0]:
                raise ConnectionError(head.split(b"\r\n")[0].decode())
            s.settimeout(0.5)
            n = 0
            while not stop.is_set():
                s.sendall(ws_frame(f"{name} {n}"))
                n += 1
                note(counts, "ws sent")
                try:
                    data = s.recv(65536)
                    if not data:
                        raise ConnectionError("closed by the server")
                    note(counts, "ws bytes", len(data))
                except socket.timeout:
                    pass
                time.sleep(0.5)
            s.close()
        except Exception as e:  # noqa: BLE001
            if not stop.is_set():
                note(errors, f"ws {type(e).__name__}: {e}"[:80])
                time.sleep(1)


def deploys(port, token, work):
    site = os.path.join(work, "deploy-src")
    os.makedirs(site, exist_ok=True)
    n = 0
    while not stop.is_set():
        with open(os.path.join(site, "index.html"), "w") as f:
            f.write(f"<h1>deploy {n}</h1>" + "x" * 50_000)
        r = subprocess.run([BIN, "deploy", "deployed", "--server", f"http://127.0.0.1:{port}",
                            "--token", token, "--yes"], cwd=site, capture_output=True, text=True)
        note(counts, "deploys")
        if r.returncode != 0:
            note(errors, f"deploy exit {r.returncode}: {r.stderr.strip()[:60]}")
        n += 1
        stop.wait(30)


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) // 1024
    except (FileNotFoundError, StopIteration):
        return 0


def process_tree(pid):
    """(RSS in MB of the server, of its script workers together, its threads, its open files)"""
    children = [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                               text=True).stdout.split()]
    with open(f"/proc/{pid}/status") as f:
        threads = next(int(l.split()[1]) for l in f if l.startswith("Threads:"))
    files = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_mb(pid), sum(rss_mb(c) for c in children), threads, files


def main():
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} is missing: run make release first")
    work = tempfile.mkdtemp(prefix="cc-soak-")
    data = os.path.join(work, "data")
    sites = os.path.join(data, "sites")
    for name in ["docs", "counter", "spin", "chat"]:
        os.makedirs(os.path.join(sites, name))
    with open(os.path.join(sites, "docs", "index.html"), "w") as f:
        f.write("<h1>docs</h1>")
    with open(os.path.join(sites, "docs", "a.html"), "w") as f:
        f.write("a" * 2048)
    with open(os.path.join(sites, "docs", "big.bin"), "wb") as f:
        f.write(os.urandom(200_000))
    with open(os.path.join(sites, "counter", "main.js"), "w") as f:
        f.write('let n = db.get("n") || 0; n++; db.set("n", n); res.json({ n });')
    with open(os.path.join(sites, "spin", "main.js"), "w") as f:
        f.write("while (true) {}")
    with open(os.path.join(sites, "chat", "main.js"), "w") as f:
        f.write('socket.on("message", (m) => socket.broadcast(m)); res.send("chat");')
    server = subprocess.Popen([BIN, "serve", "--port", "0", "--bind", "127.0.0.1", "--data-dir", data],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(server.stdout.readline().strip().rsplit(":", 1)[1])
    token = subprocess.run([BIN, "keys", "create", "--name", "soak", "--data-dir", data],
                           capture_output=True, text=True).stdout.strip().splitlines()[-1]
    jobs = (
        [(load, (port, "static", "docs.localhost", ["/", "/a.html", "/big.bin"], 200))] * 2
        + [(load, (port, "counter", "counter.localhost", ["/"], 200))] * 2
        + [(load, (port, "attacker", "spin.localhost", ["/"], 503))]
        + [(dashboard_load, (port,)), (deploys, (port, token, work))]
        + [(ws_chat, (port, f"c{i}")) for i in range(20)]
    )
    workers = [threading.Thread(target=f, args=a, daemon=True) for f, a in jobs]
    for w in workers:
        w.start()
    print(f"soak: {MINUTES:g} minutes on port {port}; one line a minute", flush=True)
    print(f"{'min':>4} {'server MB':>9} {'workers MB':>10} {'threads':>8} {'files':>6}  "
          "requests (static/counter/attacker/ws sent)  errors")
    samples = []
    start = time.time()
    minute = 0
    while time.time() - start < MINUTES * 60:
        time.sleep(min(60, MINUTES * 60 - (time.time() - start)))
        minute += 1
        rss, workers_rss, threads, files = process_tree(server.pid)
        samples.append((rss, workers_rss, threads, files))
        with lock:
            c, e = dict(counts), dict(errors)
        print(f"{minute:>4} {rss:>9} {workers_rss:>10} {threads:>8} {files:>6}  "
              f"{c.get('static', 0)}/{c.get('counter', 0)}/{c.get('attacker', 0)}/{c.get('ws sent', 0)}"
              f"  {sum(e.values())} {e if e else ''}", flush=True)
    stop.set()
    for w in workers:
        w.join(timeout=15)
    server.terminate()
    server.wait(timeout=30)
    shutil.rmtree(work, ignore_errors=True)
    failures = []
    if sum(errors.values()):
        failures.append(f"errors: {errors}")
    if len(samples) >= 3:
        # From the second minute on (caches, pools and the database's pages have filled):
        # at most a tenth more memory, no new threads, a few more files at most.
        base, last = samples[1], samples[-1]
        for i, what in [(0, "the server's RSS"), (1, "the script workers' RSS")]:
            if last[i] > base[i] * 1.10 + 2:
                failures.append(f"{what} grew from {base[i]} to {last[i]} MB after the first minutes")
        if last[2] > base[2] + 2:
            failures.append(f"threads grew from {base[2]} to {last[2]}")
        if last[3] > base[3] + 20:
            failures.append(f"open files grew from {base[3]} to {last[3]}")
    print("soak: " + ("; ".join(failures) if failures else "flat and error-free"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
