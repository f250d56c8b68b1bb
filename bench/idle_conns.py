#!/usr/bin/env python3
"""Opens N TCP connections to 127.0.0.1:PORT, says "open", and holds them (sending nothing)
until killed or HOLD seconds pass. Used by `make bench` for the idle-connections row."""
import resource
import socket
import sys
import time

port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
for _ in range(n):
    socks.append(socket.create_connection(("127.0.0.1", port)))
print("open", flush=True)
time.sleep(hold)
