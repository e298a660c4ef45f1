"""A web worker killed with a write in flight loses no write and leaves nothing half-written (issue 15).

`statuspage serve --workers 2 --web-only` on a free 127.0.0.1 port, in its own session, killed whole
afterwards. The test speaks HTTP over a plain socket so that it knows the connection's port, finds the
worker that accepted it in /proc (the socket among its open files), and kills that worker with SIGKILL.
Nothing waits on time: every wait is for something observable, with a generous deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import pytest
from conftest import TEST_CONFIG, free_port, wait_for
from exact_online_service_helpers import DEMO_ENVIRONMENTS, book
from process_helpers import query, start, stop

from statuspage.actions import outbox
from statuspage.config import load_settings
from statuspage.core import storage
from statuspage.core.operation import Actor
from statuspage.incidents import operations
from statuspage.page.snapshot import component_definitions

QUEUED = 300
OPERATOR = {"Authorization": "Bearer sp_workers-operator"}
CLIENT = {"Authorization": "Bearer sp_workers-client"}

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="finds the worker through Linux's /proc")


def seed(tmp_path: Path, port: int) -> dict[str, str]:
    """Tokens, the page's components and QUEUED actions queued for Exact Online (no worker books them: the
    workers are web only); returns the environment to start the service with."""
    config = tmp_path / "statuspage.toml"
    config.write_text(TEST_CONFIG + DEMO_ENVIRONMENTS)
    environ = {"STATUSPAGE_DB": str(tmp_path / "killed.db"), "STATUSPAGE_CONFIG": str(config),
               "STATUSPAGE_PORT": str(port), "STATUSPAGE_PAGE_URL": f"http://127.0.0.1:{port}",
               # Nothing calls Exact Online here; an address that answers nothing keeps its sandbox unstarted.
               "STATUSPAGE_EXACT_BASE_URL": "http://127.0.0.1:9", "STATUSPAGE_EXACT_CLIENT_ID": "unused"}
    settings = load_settings(config, environ=environ)
    now = datetime.now(UTC)
    db = storage.open_database(settings.database.path)
    with storage.write_transaction(db):
        storage.sync_components(db, component_definitions(settings), now)
        operations.create_token(db, settings, Actor("test"), now, "workers-operator", "operator", "sp_workers-operator")
        operations.create_token(db, settings, Actor("test"), now, "invoice-product", "client", "sp_workers-client")
        for n in range(QUEUED):
            request = msgspec.convert(book(f"Q-{n}", administration=("101", "102")[n % 2]), outbox.ActionRequest)
            outbox.accept(db, settings, "invoice-product", now, request)
    db.close()
    return environ


def send(port: int, method: str, path: str, headers: dict[str, str], body: dict,
         connection: socket.socket | None = None) -> socket.socket:
    """Send one HTTP/1.1 request (keep-alive, so the worker holds the connection after answering), on
    `connection` or a new one, and return the socket, unread."""
    data = json.dumps(body).encode()
    head = "".join(f"{name}: {value}\r\n" for name, value in {
        "Host": f"127.0.0.1:{port}", "Content-Type": "application/json", "Content-Length": str(len(data)),
        **headers}.items())
    connection = connection or socket.create_connection(("127.0.0.1", port), timeout=60)
    connection.sendall(f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode() + data)
    return connection


def answered(connection: socket.socket) -> bool:
    """Whether any byte of an answer has arrived, without taking it."""
    timeout = connection.gettimeout()
    connection.setblocking(False)  # with a timeout set, recv would first wait for a byte, MSG_DONTWAIT or not
    try:
        return bool(connection.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False
    finally:
        connection.settimeout(timeout)


def read_status(connection: socket.socket) -> int | None:
    """The status of the answer on `connection`, or None when the connection ended without one."""
    received = b""
    try:
        while b"\r\n" not in received:
            chunk = connection.recv(4096)
            if not chunk:
                return None
            received += chunk
    except ConnectionResetError:
        return None
    return int(received.split(b" ", 2)[1])


def listening(port: int) -> int:
    """How many sockets listen on 127.0.0.1:`port`: granian's workers listen each on a socket of their own
    (SO_REUSEPORT), once started."""
    return sum(1 for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
               if line.split()[1] == f"0100007F:{port:04X}" and line.split()[3] == "0A")


def process_holding(connection: socket.socket, session: int) -> int | None:
    """The pid of the process in `session` that holds the server's end of `connection`, if any yet."""
    client_port = connection.getsockname()[1]
    server_port = connection.getpeername()[1]
    wanted = {f"0100007F:{server_port:04X} 0100007F:{client_port:04X}"}
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if f"{fields[1]} {fields[2]}" in wanted:
            inodes.add(f"socket:[{fields[9]}]")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != session:
                continue
            if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                return int(entry.name)
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue  # a process that ended while we looked
    return None


def workers(service_pid: int) -> set[int]:
    """granian's worker processes: the session's processes but its main one."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == service_pid and int(entry.name) != service_pid:
                    found.add(int(entry.name))
            except ProcessLookupError:
                continue
    return found


def connect_to(port: int, worker: int, service_pid: int) -> socket.socket:
    """A connection that `worker` accepted: the kernel hands each new connection to one of the listening workers
    (SO_REUSEPORT, by the connection's ports), so connect until that one has it."""
    for _ in range(200):
        connection = socket.create_connection(("127.0.0.1", port), timeout=60)
        if worker_of(connection, service_pid) == worker:
            return connection
        connection.close()
    raise AssertionError(f"no connection reached worker {worker} in 200 tries")


def worker_of(connection: socket.socket, service_pid: int) -> int:
    found: list[int] = []

    def look() -> bool:
        pid = process_holding(connection, service_pid)
        if pid is not None:
            found.append(pid)
        return pid is not None

    wait_for(look, "the worker that accepted the connection", seconds=30)
    assert found[-1] != service_pid, "the connection was accepted by granian's main process, not a worker"
    return found[-1]


def switch_state(environ: dict[str, str]) -> dict:
    """Everything switching Exact Online off writes, as counts: all of it or none of it must be there."""
    def count(sql: str, params=()) -> int:
        return query(environ, sql, params)[0]["n"]

    return {
        "switch off": count("SELECT count(*) AS n FROM switches WHERE scope = 'integration:exact-online' AND NOT enabled"),
        "delayed": count("SELECT count(*) AS n FROM actions WHERE state = 'delayed'"),
        "transitions to delayed": count("SELECT count(*) AS n FROM action_transitions WHERE to_state = 'delayed'"),
        "audit entries": count("SELECT count(*) AS n FROM audit_log WHERE action = 'switch.off'"),
        "incidents": count("SELECT count(*) AS n FROM incidents"),
        "incident updates": count("SELECT count(*) AS n FROM incident_updates"),
    }


NOTHING = {"switch off": 0, "delayed": 0, "transitions to delayed": 0, "audit entries": 0, "incidents": 0,
           "incident updates": 0}
ONCE = {"switch off": 1, "delayed": QUEUED, "transitions to delayed": QUEUED, "audit entries": 1, "incidents": 1,
        "incident updates": 1}
SWITCH_OFF = {"enabled": False, "reason": "misroutes", "incident": {}}


def test_a_worker_killed_with_a_write_in_flight_leaves_all_of_it_or_none_and_a_retry_writes_it_once(tmp_path) -> None:
    port = free_port()
    environ = seed(tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    service = start(environ, "--workers", "2", "--web-only")
    holder = None
    try:
        # Both workers started: killing one leaves the other to answer the retry.
        wait_for(lambda: listening(port) == 2, "both workers listening")
        wait_for(lambda: httpx.get(f"{base}/api/v2/status.json").status_code == 200, "the service")

        # 1. Killed before its write could commit. The test holds SQLite's write lock, so the worker's
        #    transaction cannot commit (it waits on the lock, up to the busy timeout); the worker that
        #    accepted the request is killed while no answer has come.
        holder = sqlite3.connect(environ["STATUSPAGE_DB"], isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        connection = send(port, "PUT", "/api/v1/integrations/exact-online/switch", OPERATOR, SWITCH_OFF)
        victim = worker_of(connection, service.pid)
        assert not answered(connection)
        survivor = (workers(service.pid) - {victim}).pop()
        os.kill(victim, signal.SIGKILL)
        assert read_status(connection) is None  # the client hears of it: the connection ends without an answer
        connection.close()
        holder.execute("ROLLBACK")
        holder.close()
        holder = None
        assert switch_state(environ) == NOTHING
        assert query(environ, "SELECT count(*) AS n FROM actions WHERE state = 'queued'")[0]["n"] == QUEUED

        # The client retries (a worker is there: the other one, or the one granian started in its place).
        retried = httpx.put(f"{base}/api/v1/integrations/exact-online/switch", headers=OPERATOR, json=SWITCH_OFF,
                            timeout=60)
        assert retried.status_code == 200, retried.text
        assert retried.json()["actions_moved"] == QUEUED
        assert switch_state(environ) == ONCE

        # 2. Killed after its write committed: the write stays, whether or not its answer left before the kill,
        #    and the invoice product's retry under the same idempotency key finds it rather than adding one.
        #    The worker killed is the other one: granian takes a worker that dies again within 5.5 s of being
        #    started for a crash loop, and stops serving altogether.
        wait_for(lambda: listening(port) == 2, "the killed worker's replacement listening")
        victim = survivor
        connection = send(port, "POST", "/api/v1/actions", CLIENT, book("AFTER-KILL"),
                          connect_to(port, victim, service.pid))
        wait_for(lambda: query(environ, "SELECT count(*) AS n FROM actions WHERE idempotency_key = 'AFTER-KILL'")[0]["n"],
                 "the action's write")
        os.kill(victim, signal.SIGKILL)
        first = read_status(connection)
        connection.close()
        assert first in (201, None)
        again = httpx.post(f"{base}/api/v1/actions", headers=CLIENT, json=book("AFTER-KILL"), timeout=60)
        assert again.status_code == 200, again.text  # the same action, not a second one
        rows = query(environ, "SELECT id, state FROM actions WHERE idempotency_key = 'AFTER-KILL'")
        assert rows == [{"id": again.json()["id"], "state": "delayed"}]  # the switch is off: it waits
        assert query(environ, "PRAGMA integrity_check")[0]["integrity_check"] == "ok"
    finally:
        if holder is not None:
            holder.close()
        stop(service)
