"""The demo's sandboxes and the service's own address, recorded in the database so that every process finds them.

An integration whose `[integrations.<key>]` names no `base_url` runs against its sandbox (the demo). `statuspage
serve` starts each such sandbox once, in its main process, before granian starts the web workers, and records
where it listens (the `listeners` table, also `serve`'s own address). A web worker, a `statuspage worker` or
`statuspage probe run` on the same database reaches the same sandbox through that record; only a process that
finds none alive (a test's app, a worker started on its own) starts one itself, and records it. Whoever started a
sandbox stops it and forgets its record when it ends.

A record is alive while its holder, a process on this host, exists and its address takes a connection.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import ip_address
from urllib.parse import urlsplit

from sqlite_utils import Database

from integrations.registry import Integration, Registry, RunningSandbox
from statuspage.core import lease, storage
from statuspage.core.settings import Settings

log = logging.getLogger("statuspage.sandboxes")

SERVE = "serve"
"""The listener name of `statuspage serve`'s own address."""
ANSWER_SECONDS = 1.0
"""How long a recorded address may take to accept a connection before it counts as gone."""


class SandboxUnavailable(Exception):
    """A sandbox could not start (its configured port is taken); the message says which and what to change."""


def sandbox_name(integration: str) -> str:
    """The listener name of an integration's sandbox: `sandbox:exact-online`."""
    return f"sandbox:{integration}"


def on_sandbox(registry: Registry, settings: Settings) -> list[Integration]:
    """The integrations that run against their sandbox: no `base_url` configured, and a sandbox shipped."""
    return [integration for integration in registry
            if integration.sandbox is not None and settings.integration(integration.key).uses_sandbox]


def is_alive(row: storage.Row) -> bool:
    """Whether a recorded listener still listens: its holder is a process on this host that exists, and its
    address takes a connection (a holder's pid may have been reused since)."""
    host, _, _ = row["holder"].rpartition(":")
    if host != socket.gethostname() or lease.is_gone(row["holder"]):
        return False
    address = urlsplit(row["url"])
    try:
        with socket.create_connection((address.hostname, address.port), timeout=ANSWER_SECONDS):
            return True
    except OSError:
        return False


def alive(db: Database) -> dict[str, str]:
    """Every recorded listener that is alive: name -> url."""
    return {name: row["url"] for name, row in storage.listeners(db).items() if is_alive(row)}


def reachable_url(host: str, port: int) -> str:
    """Where this machine reaches a service listening on host:port (every address, 0.0.0.0 or ::, is reached on
    loopback)."""
    address = ip_address(host)
    if address.is_unspecified:
        address = ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"http://[{address}]:{port}" if address.version == 6 else f"http://{address}:{port}"


@dataclass
class Sandboxes:
    """The sandboxes one process uses: where each is (integration key -> url), and the ones it started itself
    (key, url, the sandbox), which it stops and forgets at the end."""

    addresses: dict[str, str] = field(default_factory=dict)
    started: list[tuple[str, str, RunningSandbox]] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the sandboxes started here (their records are left to `forget`, in a write transaction)."""
        for _, _, running in self.started:
            running.stop()

    def forget(self, db: Database) -> None:
        for key, url, _ in self.started:
            storage.forget_listener(db, sandbox_name(key), url)


def find_or_start(db: Database, registry: Registry, settings: Settings, now: datetime,
                  holder: str | None = None) -> Sandboxes:
    """Each sandbox the configuration runs against: the one recorded alive in the database, else one started here
    (on `sandbox_port`, on 127.0.0.1) and recorded under `holder` (this process by default). Run in one write
    transaction, so that processes starting together start each sandbox once. Raises `SandboxUnavailable` when
    one cannot start (its port taken), after stopping the ones this call started."""
    holder = holder or lease.process_name()
    recorded = storage.listeners(db)
    found = Sandboxes()
    try:
        for integration in on_sandbox(registry, settings):
            row = recorded.get(sandbox_name(integration.key))
            if row is not None and is_alive(row):
                found.addresses[integration.key] = row["url"]
                continue
            assert integration.sandbox is not None
            port = settings.integration(integration.key).sandbox_port
            try:
                running = integration.sandbox.start("127.0.0.1", port)
            except OSError as error:
                raise SandboxUnavailable(f"the {integration.name} sandbox cannot listen on 127.0.0.1:{port} "
                                         f"({error.strerror or error}); change or remove "
                                         f"[integrations.{integration.key}] sandbox_port") from None
            found.started.append((integration.key, running.url, running))
            found.addresses[integration.key] = running.url
            storage.record_listener(db, sandbox_name(integration.key), running.url, holder, now)
            log.info("%s sandbox (demo scenario) listening on %s", integration.name, running.url)
    except BaseException:
        found.stop()
        raise
    return found


def addresses(registry: Registry, settings: Settings, sandboxes: dict[str, str]) -> dict[str, str]:
    """Every integration's address: its sandbox's where it runs against one (`sandboxes`, by key), else its
    configured `base_url` (empty when neither is known: a call there fails)."""
    return {integration.key: sandboxes.get(integration.key) or settings.integration(integration.key).base_url
            for integration in registry}


def missing(registry: Registry, settings: Settings, sandboxes: dict[str, str], keys: Iterable[str]) -> list[str]:
    """The names of the integrations among `keys` that run against a sandbox that is not in `sandboxes`."""
    wanted = set(keys)
    return [integration.name for integration in on_sandbox(registry, settings)
            if integration.key in wanted and integration.key not in sandboxes]

