"""The sandbox as a server: on a thread inside a test or the demo, or in the foreground from the command line.

    python -m integrations.exact_online.sandbox --port 8090 [--seed 7] [--scenario demo] [--accounts 100000]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from integrations.base import Clock, utc_now
from integrations.exact_online.sandbox import api, control, oauth
from integrations.exact_online.sandbox.faults import Faults
from integrations.exact_online.sandbox.masterdata import DataSize
from integrations.exact_online.sandbox.messages import Reply, Request, error_reply
from integrations.exact_online.sandbox.scenario import SANDBOX_CLIENT_ID, SCENARIOS, Scenario, demo_scenario
from integrations.exact_online.sandbox.state import SandboxState

log = logging.getLogger(__name__)


def dispatch(state: SandboxState, request: Request) -> Reply:
    # One request at a time changes the sandbox; waits (latency, hangs) happen after, outside the lock.
    with state.lock:
        if request.path.startswith("/api/v1/"):
            return api.handle(state, request)
        if request.path == "/api/oauth2/auth":
            return oauth.authorize(state, request) if request.method == "POST" else oauth.sign_in_page(state, request)
        if request.path == "/api/oauth2/token" and request.method == "POST":
            return oauth.token(state, request)
        if request.path.startswith("/_sandbox/"):
            return control.handle(state, request)
        return error_reply(404, "Not found.")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: SandboxState) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Kept-alive connections outlive `shutdown()`; a stopped sandbox must stop answering on them too."""
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; without this, Nagle's algorithm holds the body back ~40 ms.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def _answer(self) -> None:
        url = urlsplit(self.path)
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        # Links we hand out lead back the way the client came, through a TLS-terminating proxy too.
        scheme = "https" if self.headers.get("X-Forwarded-Proto", "").lower() == "https" else "http"
        request = Request(
            method=self.command,
            path=url.path,
            query={name: values[0] for name, values in parse_qs(url.query, keep_blank_values=True).items()},
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
            base_url=f"{scheme}://{host}",
        )
        reply = dispatch(self.server.state, request)
        if reply.delay and self.server.stopping.wait(reply.delay):
            self.close_connection = True
            return
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            # The client gave up waiting (a hang did its job); nobody is left to answer.
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class ExactOnlineSandbox:
    """A local Exact Online. `with ExactOnlineSandbox(clock=clock) as sandbox: ... sandbox.url ...`"""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock = utc_now,
        seed: int = 0,
        faults: Faults | None = None,
        data_size: DataSize | None = None,
    ) -> None:
        self.state = SandboxState(scenario or demo_scenario(), clock=clock, seed=seed, faults=faults or Faults(),
                                  data_size=data_size)
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return f"http://{self._address[0]}:{self._server.server_port}"

    def start(self) -> ExactOnlineSandbox:
        self._server = _Server(self._address, self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="exact-online-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> ExactOnlineSandbox:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integrations.exact_online.sandbox",
                                     description="A local server speaking Exact Online's REST and OAuth2 protocol.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same tokens and entry numbers")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="demo")
    parser.add_argument("--accounts", type=int, default=DataSize().accounts,
                        help="accounts generated per division (up to 100,000)")
    args = parser.parse_args(argv)

    sandbox = ExactOnlineSandbox(SCENARIOS[args.scenario](), host=args.host, port=args.port, seed=args.seed,
                                 data_size=DataSize(accounts=args.accounts))
    stopped = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with sandbox:
        print(f"Exact Online sandbox ({args.scenario}) listening on {sandbox.url}; client_id {SANDBOX_CLIENT_ID}",
              flush=True)
        for environment in sandbox.state.environments:
            print(f"  {environment.name}: connection user {environment.connection_user}, "
                  f"divisions {', '.join(map(str, environment.divisions))}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()
    return 0
