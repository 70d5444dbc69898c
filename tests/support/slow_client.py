"""A hostile client for timeout tests: a request sent a byte at a time."""

from __future__ import annotations

import socket
import time


def dribble(port: int, head: bytes, trickle: bytes, every_s: float = 0.5, limit_s: float = 8.0) -> tuple[float, bytes]:
    """Send `head`, then `trickle` one byte every `every_s`; return (seconds until closed, answer)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=limit_s)
    started = time.monotonic()
    answer = b""
    try:
        sock.sendall(head)
        sock.setblocking(False)
        for byte in trickle:
            if time.monotonic() - started > limit_s:
                break
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # closed by the proxy
                break
            deadline = time.monotonic() + every_s
            while time.monotonic() < deadline:
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    time.sleep(0.02)
                    continue
                except OSError:
                    return time.monotonic() - started, answer
                if not chunk:
                    return time.monotonic() - started, answer
                answer += chunk
        return time.monotonic() - started, answer
    finally:
        sock.close()
