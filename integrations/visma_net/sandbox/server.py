"""The sandbox as a server: on a thread inside a test or the demo, or in the foreground from the command line.

    python -m integrations.visma_net.sandbox --port 8093 [--seed 7] [--scenario demo] [--hourly-limit 500]

Visma Connect (`/connect/token`) and the ERP API (`/v1/...`) answer on one port: point both `connect_url` and
`api_url` of `VismaNetSettings` at `sandbox.url`.
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
from integrations.visma_net.sandbox import api, control
from integrations.visma_net.sandbox.faults import Faults
from integrations.visma_net.sandbox.messages import Reply, Request, gateway_error
from integrations.visma_net.sandbox.scenario import SANDBOX_CLIENT_ID, SCENARIOS, Scenario, demo_scenario
from integrations.visma_net.sandbox.state import SandboxState

log = logging.getLogger(__name__)

def dispatch(state: SandboxState, request: Request) -> Reply:
    # One request at a time changes the sandbox; waits (latency, slow inserts, hangs) happen after, outside the lock.
    with state.lock:
        if request.path.startswith("/v1/"):
            return api.handle(state, request)
        if request.path == "/connect/token" and request.method == "POST":
            return api.token(state, request)
        if request.path.startswith("/_sandbox/"):
            return control.handle(state, request)
        return gateway_error(404, "Resource not found")


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
        request = Request(
            method=self.command,
            path=url.path,
            query={name: values[0] for name, values in parse_qs(url.query, keep_blank_values=True).items()},
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
            base_url=f"http://{host}",
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


class VismaNetSandbox:
    """A local Visma.net: Visma Connect and the ERP API on one port.
    `with VismaNetSandbox(clock=clock) as sandbox: ... sandbox.url ...`"""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock = utc_now,
        seed: int = 0,
        faults: Faults | None = None,
    ) -> None:
        self.state = SandboxState(scenario or demo_scenario(), clock=clock, seed=seed, faults=faults or Faults())
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return f"http://{self._address[0]}:{self._server.server_port}"

    def start(self) -> VismaNetSandbox:
        self._server = _Server(self._address, self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="visma-net-sandbox", daemon=True)
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

    def __enter__(self) -> VismaNetSandbox:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integrations.visma_net.sandbox",
                                     description="A local server speaking Visma Connect and the Visma.net ERP API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same tokens")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="demo")
    parser.add_argument("--hourly-limit", type=int, default=Faults().hourly_limit,
                        help="calls per company and client per hour")
    parser.add_argument("--insert-ms", type=int, default=0, help="milliseconds each create takes to answer")
    args = parser.parse_args(argv)

    sandbox = VismaNetSandbox(SCENARIOS[args.scenario](), host=args.host, port=args.port, seed=args.seed,
                              faults=Faults(hourly_limit=args.hourly_limit, insert_ms=args.insert_ms))
    stopped = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with sandbox:
        print(f"Visma.net sandbox ({args.scenario}) listening on {sandbox.url}; client_id {SANDBOX_CLIENT_ID}",
              flush=True)
        for company in sandbox.state.companies.values():
            print(f"  company {company.company_id} ({company.name}): tenant_id {company.tenant_id}, "
                  f"{len(company.customers)} customers", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()
    return 0
