"""The HTTP server every sandbox runs on: threaded, one connection per thread, HTTP/1.1 with keep-alive.

A sandbox subclasses `ScenarioSandbox` (or, for a state made another way, `SandboxServer`) with its state (anything
with a `lock`) and a `dispatch` from `Request` to `Reply`; it runs on a thread inside a test or the demo
(`with Sandbox(...) as sandbox: ... sandbox.url ...`), or in the foreground from the command line
(`argument_parser` and `serve`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Generic, Protocol, Self, TypedDict, TypeVar, Unpack
from urllib.parse import parse_qs, urlsplit

from integrations.base import Clock, utc_now
from integrations.sandboxes.messages import Reply, Request

log = logging.getLogger(__name__)


class Locked(Protocol):
    @property
    def lock(self) -> threading.RLock: ...


S = TypeVar("S", bound=Locked)
Sc = TypeVar("Sc")
F = TypeVar("F")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[SandboxHandler], dispatch: Callable[[Request], Reply],
        lock: threading.RLock,
    ) -> None:
        super().__init__(address, handler)
        self.dispatch = dispatch
        self.lock = lock
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


class SandboxHandler(BaseHTTPRequestHandler):
    """Answers GET and POST (a subclass adds `do_PUT` where the system has it; others answer 501)."""

    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; without this, Nagle's algorithm holds the body back ~40 ms.
    disable_nagle_algorithm = True
    honours_forwarded_proto: ClassVar[bool] = False
    """Whether `X-Forwarded-Proto: https` makes `Request.base_url` https (the links handed out lead back the way
    the client came, through a TLS-terminating proxy too)."""

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        url = urlsplit(self.path)
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        https = self.honours_forwarded_proto and self.headers.get("X-Forwarded-Proto", "").lower() == "https"
        request = Request(
            method=self.command,
            path=url.path,
            query={name: values[0] for name, values in parse_qs(url.query, keep_blank_values=True).items()},
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
            base_url=f"{'https' if https else 'http'}://{host}",
        )
        reply = self.server.dispatch(request)
        try:
            if reply.delay and self.server.stopping.wait(reply.delay):
                self.close_connection = True
                return
        finally:
            # Before the answer leaves: a client that sends its next call on receipt never finds this one in flight.
            if reply.done is not None:
                with self.server.lock:
                    reply.done()
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


class SandboxHandlerWithPut(SandboxHandler):
    """For a system whose API takes PUT too (Exact Online's cashflow/Payments, Visma.net's customer updates)."""

    def do_PUT(self) -> None:
        self._answer()


class SandboxServer(Generic[S]):
    """A sandbox's state behind an HTTP server on a thread of its own: `start()`/`stop()`, or `with`.

    Subclasses say how a request is answered (`dispatch`, which takes `state.lock` itself: waits happen after,
    outside it), and may name the thread and the handler class."""

    thread_name: ClassVar[str] = "sandbox"
    handler: ClassVar[type[SandboxHandler]] = SandboxHandler

    def __init__(self, state: S, *, host: str, port: int) -> None:
        self.state = state
        self._address = (host, port)
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def dispatch(self, request: Request) -> Reply:
        raise NotImplementedError

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return f"http://{self._address[0]}:{self._server.server_port}"

    def start(self) -> Self:
        self._server = _HTTPServer(self._address, self.handler, self.dispatch, self.state.lock)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


class SandboxOptions(TypedDict, total=False):
    """Where a sandbox listens and what drives it; what is left out takes the default."""

    host: str
    """`127.0.0.1` by default."""
    port: int
    """0 (the default) picks a free one."""
    clock: Clock
    """The sandbox's "now" (`utc_now` by default): tests pass a fake one."""
    seed: int
    """Seeds the sandbox's random (0 by default): same seed, same tokens and numbers."""


class ScenarioSandbox(SandboxServer[S], Generic[S, Sc, F]):
    """A sandbox whose state is made from a scenario `Sc` and fault modes `F`, as tests, the demo and the command
    line start one: `Sandbox(scenario=None, *, faults=None, host=..., port=..., clock=..., seed=...)`.

    A subclass makes its state in `new_state`, from its demo scenario and its default faults where none are
    given."""

    def __init__(self, scenario: Sc | None = None, *, faults: F | None = None, **options: Unpack[SandboxOptions]) -> None:
        state = self.new_state(scenario, faults=faults, clock=options.get("clock", utc_now), seed=options.get("seed", 0))
        super().__init__(state, host=options.get("host", "127.0.0.1"), port=options.get("port", 0))

    def new_state(self, scenario: Sc | None, *, faults: F | None, clock: Clock, seed: int) -> S:
        """The sandbox's state for `scenario` (its demo scenario when None) and `faults` (its defaults when None)."""
        raise NotImplementedError

    @classmethod
    def start_demo(cls, host: str, port: int) -> Self:
        """The demo scenario's sandbox on `host`:`port` (0: a free one), with default faults, running on a thread."""
        return cls(host=host, port=port).start()


def argument_parser(
    prog: str, description: str, scenarios: Mapping[str, Any], *, seed_help: str
) -> argparse.ArgumentParser:
    """The options every sandbox's command line has: `--host`, `--port` (0: a free one), `--seed`, `--scenario`."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--seed", type=int, default=0, help=seed_help)
    parser.add_argument("--scenario", choices=sorted(scenarios), default="demo")
    return parser


def serve(sandbox: SandboxServer[Any], title: str, client_id: str, details: Iterable[str]) -> int:
    """Run `sandbox` in the foreground until SIGTERM or Ctrl-C. Once it listens it prints
    `<title> listening on <url>; client_id <client_id>` (what the demo and the tests wait for), then `details`."""
    stopped = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with sandbox:
        for line in (f"{title} listening on {sandbox.url}; client_id {client_id}", *details):
            print(line, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()
    return 0
