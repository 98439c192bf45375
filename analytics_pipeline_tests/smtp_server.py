"""A real SMTP server on 127.0.0.1 for delivery tests (aiosmtpd), on a free port."""

from __future__ import annotations

import socket
from typing import Any

from aiosmtpd.controller import Controller


def start_smtp_server(handler: Any, attempts: int = 5) -> tuple[Controller, int]:
    """Start aiosmtpd with ``handler`` on a free loopback port. aiosmtpd needs the port number up
    front, so one is picked and released first; another process can take it in between (tests
    run in parallel), hence a few attempts."""
    for attempt in range(attempts):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        try:
            controller.start()
        except (OSError, RuntimeError):
            if attempt == attempts - 1:
                raise
            continue
        return controller, port
    raise AssertionError("unreachable")
