"""A free TCP port on loopback, for a server a test starts (the webhook, the web form, a bot process)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nobody listens on now; the OS hands out another one to the next asker."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
