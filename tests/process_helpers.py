"""Shared by the tests that run `statuspage serve` as real processes over one SQLite file: the environment a process
is started with, the database seeded before it starts (tokens, a connection made at a sandbox, a backlog held by the
switch), and starting and stopping it (conftest.wait_for waits for it). Each process runs in a session of its
own, so stopping it ends its workers too."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec

from statuspage.actions import outbox, switches
from statuspage.actions.connections import callback_path
from statuspage.config import load_settings
from statuspage.core import storage
from statuspage.core.operation import Actor
from statuspage.core.settings import Settings
from statuspage.incidents import operations
from statuspage.page.snapshot import component_definitions


def service_environ(tmp_path: Path, port: int, config: str, database: str, **variables: str) -> dict[str, str]:
    """The environment of a service on 127.0.0.1:`port` reading the configuration `config` and the SQLite file
    `database`, both in `tmp_path`; `variables` are added (STATUSPAGE_EXACT_BASE_URL=..., say)."""
    path = tmp_path / "statuspage.toml"
    path.write_text(config)
    return {"STATUSPAGE_DB": str(tmp_path / database), "STATUSPAGE_PAGE_URL": f"http://127.0.0.1:{port}",
            "STATUSPAGE_PORT": str(port), "STATUSPAGE_CONFIG": str(path)} | variables


def callback_url(environ: dict[str, str], integration: str) -> str:
    """Where the service started with `environ` takes the OAuth callback of `integration`."""
    return environ["STATUSPAGE_PAGE_URL"] + callback_path(integration)


def exchanged(exchange_code: Callable[..., Any], app: Any, code: str) -> Any:
    """The tokens an integration's `exchange_code(app, code, http=, clock=)` gets for `code`, on the wall clock
    (the processes under test run on it)."""

    async def exchange() -> Any:
        async with httpx.AsyncClient() as http:
            return await exchange_code(app, code, http=http, clock=lambda: datetime.now(UTC))

    return asyncio.run(exchange())


@dataclass
class Seeding:
    """One write transaction on the database of a service not yet started, its components in place."""

    db: Any
    settings: Settings
    now: datetime
    actor: Actor

    def token(self, name: str, role: str, token: str) -> None:
        """An API token `token` for a person or client `name` in `role`."""
        operations.create_token(self.db, self.settings, self.actor, self.now, name, role, token)

    def connection(self, environment: str, integration: str, tokens: Any, guard: str | None = None) -> int:
        """The connection of `environment` to `integration`, connected with `tokens` (a msgspec Struct); its id."""
        connection = storage.connection_id(self.db, environment, integration)
        storage.save_connection_tokens(self.db, connection, msgspec.json.encode(tokens).decode(), guard)
        return connection

    def held(self, integration: str, requests: Iterable[dict]) -> None:
        """Switch `integration` off, then hand in `requests` (dicts as POST /api/v1/actions takes): all delayed."""
        switches.switch(self.db, self.settings, self.actor, self.now, integration=integration, environment=None,
                        enabled=False, reason="hold the backlog")
        for request in requests:
            outbox.accept(self.db, self.settings, "invoice-product", self.now,
                          msgspec.convert(request, outbox.ActionRequest))


@contextmanager
def seeding(environ: dict[str, str]) -> Iterator[Seeding]:
    """Seed the database of the service `environ` describes, in one transaction, before it starts."""
    settings = load_settings(Path(environ["STATUSPAGE_CONFIG"]), environ=environ)
    now = datetime.now(UTC)
    db = storage.open_database(settings.database.path)
    try:
        with storage.write_transaction(db):
            storage.sync_components(db, component_definitions(settings), now)
            yield Seeding(db, settings, now, Actor("test"))
    finally:
        db.close()


def start(environ: dict[str, str], *options: str) -> subprocess.Popen:
    """`statuspage serve` with `options` (`--workers 3`, say), in a session of its own, output discarded."""
    return subprocess.Popen([sys.executable, "-m", "statuspage", "serve", *options], env=os.environ | environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(service: subprocess.Popen) -> None:
    """Kill the service's whole session (SIGKILL), if it still runs, and reap it."""
    if service.poll() is None:
        os.killpg(service.pid, signal.SIGKILL)
    service.wait()


def query(environ: dict[str, str], sql: str, params: Any = ()) -> list[dict[str, Any]]:
    """The rows of `sql` on the service's database, opened read-only beside the running processes."""
    db = storage.connect(environ["STATUSPAGE_DB"], read_only=True)
    try:
        return list(db.query(sql, params))
    finally:
        db.close()


def booked_refs(sandbox: Any) -> list[str]:
    """The references of the Exact Online sandbox's ledger entries, in the order they were booked."""
    return [entry["your_ref"] for entry in httpx.get(f"{sandbox.url}/_sandbox/ledger").json()["entries"]]
