"""A free loopback port for a child process to listen on (shared by every test directory)."""

import itertools
import os
import pathlib
import socket

_NEXT_PORT = itertools.count()


def free_port() -> int:
    """A loopback port nothing listens on now, for a child process to listen on.

    Taken below the kernel's ephemeral range: a port from bind(0) comes from that range, so
    between its release here and the child's bind any outgoing connection (a database pool, an
    HTTP client, the child's own) can take it and the child exits on "address in use". Below
    the range only another explicit bind can. Falls back to bind(0) where there is no room."""
    try:
        low = int(pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    span = 10_000
    if low > span + 1024:
        # Different processes usually start at different places.
        offset = os.getpid() % span * 7919 % span
        for _ in range(span):
            port = low - span + (offset + next(_NEXT_PORT)) % span
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
