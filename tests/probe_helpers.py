"""Probes' counterpart: a local HTTP server whose answers a test sets, and a configuration that probes it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import TEST_CONFIG
from exact_online_service_helpers import ENVIRONMENTS

HOLD_LIMIT = 60.0
"""Seconds a held request waits at most, so that a test that forgets to release cannot hang for ever."""


class Target:
    """A local HTTP server whose answers a test sets: status and body; `hold()` makes it keep each request
    unanswered until the test calls `release()` (at most HOLD_LIMIT seconds), so that a slow answer is slow for
    as long as the test says, not for as long as the wall clock takes."""

    def __init__(self) -> None:
        self.status, self.body = 200, b'{"status": {"indicator": "none"}}'
        self.arrived = threading.Event()  # set when a request came in
        self.answered = 0  # requests answered so far
        self._released = threading.Event()
        self._released.set()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                target.arrived.set()
                target._released.wait(HOLD_LIMIT)
                self.send_response(target.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(target.body)))
                self.end_headers()
                self.wfile.write(target.body)
                target.answered += 1

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hold(self) -> None:
        """From now on, keep requests unanswered until `release()`."""
        self.arrived.clear()
        self._released.clear()

    def release(self) -> None:
        """Answer the held requests, and the next ones at once."""
        self._released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(name="target")
def target_fixture() -> Iterator[Target]:
    target = Target()
    yield target
    target.close()


def probes_config(target_url: str) -> str:
    """The test configuration with one environment and three probes: an http probe of `target_url`, backlog, sync."""
    return TEST_CONFIG + ENVIRONMENTS + f"""
[demo]
enabled = false

[probing]
first_run_spread = 0  # runs only when a test asks, or after a whole interval

[[probes]]
key = "twinfield-api"
kind = "http"
component = "twinfield"
url = "{target_url}/api"
interval = 60
timeout = 0.5
conditions = ["[STATUS] == 200", "[BODY].status.indicator == \\"none\\"", "[RESPONSE_TIME] < 400"]

[[probes]]
key = "backlog"
kind = "backlog"
component = "exact-online"
conditions = ["[DELAYED] < 2", "[OLDEST_AGE] < 600"]

[[probes]]
key = "sync"
kind = "sync"
due_by = "07:00"
"""
