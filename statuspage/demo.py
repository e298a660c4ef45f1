"""The demo that `statuspage serve` runs out of the box, against the integrations' sandboxes only.

So that a newcomer sees the real thing at once: the sandbox's environments are connected under
their users (Jansen Groep's user cannot open Jansen Verhuur), a trickle of invoice actions flows in
as from the invoice product, into every integration that runs against its sandbox (Exact Online and
Twinfield out of the box), and a fresh operator token is printed to sign in with. Switch one of them
off in the console, watch its actions wait as delayed while the other books on, switch it on and
watch the replay.

Each connected environment also gets a manual full sync of its master data at start-up, so the console's
Sync tab shows rows arriving (and bookings overtaking the sync) at once. The sample configuration's mirror rule
then runs after Jansen Groep's sync and inserts its Exact Online relations as customers into the Visma.net
sandbox (console, Mirrors); relations the demo adds in Exact Online later follow after the next sync.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from datetime import date, datetime
from typing import Any

import msgspec

from integrations.base import ActionKind
from statuspage.actions import outbox
from statuspage.actions.connections import Links
from statuspage.actions.dispatcher import Dispatcher
from statuspage.core import storage
from statuspage.core.auth import new_token
from statuspage.core.clock import Clock
from statuspage.core.operation import Actor, Refused
from statuspage.core.settings import Settings
from statuspage.core.storage import Store
from statuspage.core.vocabulary import SyncKind, SyncTrigger
from statuspage.incidents import operations
from statuspage.sandboxes import sandbox_name
from statuspage.sync.engine import SyncEngine

log = logging.getLogger("statuspage.demo")

DEMO_OPERATOR = "demo-operator"
DEMO_CLIENT = "demo-invoice-product"
ACTOR = Actor("demo")
CHANGE_EVERY_SECONDS = 30.0


async def prepare_demo(settings: Settings, store: Store, clock: Clock, links: Links) -> None:
    """Before the background work starts (so that no action or probe meets credentials a fresh sandbox does not
    know): print a fresh operator token, and connect the demo environments that need it."""
    token = await store.write(_fresh_operator_token, settings, clock())
    announce(token_banner(f"{settings.page.url}/console", token))
    await connect_sandbox_environments(settings, store, links)


async def start_demo(settings: Settings, store: Store, clock: Clock, links: Links, dispatcher: Dispatcher,
                     sync: SyncEngine | None = None) -> None:
    """The demo's running part, after `prepare_demo`: a full sync of what is connected, master data changing now
    and then, and an invoice action every `seconds_between_actions`."""
    if sync is not None:
        await full_sync_on_start(store, sync)
        changing = asyncio.create_task(change_master_data(store, links, sync, CHANGE_EVERY_SECONDS))
    try:
        await trickle(settings, store, clock, dispatcher, settings.demo.seconds_between_actions)
    finally:
        if sync is not None:
            changing.cancel()


def token_banner(console: str, token: str) -> str:
    """The operator token at start-up, framed so that it stands out among the log lines around it."""
    lines = ["statuspage demo: sign in to the console", f"  at     {console}", f"  token  {token}"]
    rule = "=" * max(len(line) for line in lines)
    return "\n".join(["", rule, *lines, rule, ""])


def demo_environments(settings: Settings, links: Links) -> list:
    """The environments of integrations that run against their own sandbox: the ones the demo may use."""
    return [environment for environment in settings.environments
            if links[environment.integration].integration.sandbox is not None
            and links[environment.integration].options.uses_sandbox]


def announce(line: str) -> None:
    """To the terminal of whoever started the service; never to the log, which may be kept or shipped."""
    print(line, file=sys.stderr, flush=True)


def _fresh_operator_token(db, settings: Settings, now) -> str:
    """A new token each start (a token is shown only when it is made); the ones of earlier starts are revoked."""
    for row in storage.list_tokens(db):
        if row["name"].startswith(DEMO_OPERATOR) and row["revoked_at"] is None:
            operations.revoke_token(db, settings, ACTOR, now, row["id"])
    token = new_token()
    operations.create_token(db, settings, ACTOR, now, f"{DEMO_OPERATOR}-{now:%Y%m%d%H%M%S}", "operator", token)
    return token


def needs_connecting(connection: storage.Connection | None, sandbox_started_at: datetime | None) -> bool:
    """Whether the demo must (re)connect an environment: it never was, or it was before its sandbox started.

    A sandbox keeps its tokens in memory, so one started afresh (the demo run again on the same database)
    knows no credentials issued before it: every refresh would be refused with invalid_grant. A sandbox whose
    start is unknown is taken as fresh."""
    if connection is None or not connection.user_name or connection.connected_at is None:
        return True
    return sandbox_started_at is None or connection.connected_at < sandbox_started_at


async def connect_sandbox_environments(settings: Settings, store: Store, links: Links) -> None:
    """Click "Connect" for each demo environment that its sandbox cannot know (`needs_connecting`), as its sandbox
    user."""
    connections = await _connected(store)
    started = {name: storage.moment(row["started_at"]) for name, row in (await store.read(storage.listeners)).items()}
    for environment in demo_environments(settings, links):
        link = links[environment.integration]
        sandbox = link.integration.sandbox
        assert sandbox is not None
        username = sandbox.demo_users().get(environment.name)
        connection = connections.get((environment.key, environment.integration))
        if username is None or not needs_connecting(connection, started.get(sandbox_name(environment.integration))):
            continue
        grant = await sandbox.demo_grant(link.base_url, link.options, link.redirect_uri, username)
        user = await link.connect(environment.key, grant, ACTOR.name)
        log.info("demo: %s %s to %s under %s", environment.name, "reconnected" if connection else "connected",
                 link.integration.name, user.full_name)


async def _connected(store: Store) -> dict[tuple[str, str], storage.Connection]:
    """Connections made, by (environment, integration)."""
    return {(row.environment, row.integration): row for row in await store.read(storage.connections) if row.user_name}


async def full_sync_on_start(store: Store, sync: SyncEngine) -> None:
    """A manual full sync of every connected mirrored environment, as an operator's "Sync now" would queue it."""
    connected = await _connected(store)
    for environment in sync.environments:
        if (environment.key, environment.integration) in connected:
            await sync.request(environment.key, None, SyncKind.FULL, SyncTrigger.MANUAL, None, ACTOR.name)


async def change_master_data(store: Store, links: Links, sync: SyncEngine, interval: float) -> None:
    """Every `interval` seconds, change a row of master data in a sandbox (as a bookkeeper would: the sandbox's
    `demo_change`, e.g. rename a relation) and ask an incremental sync of it, so the change shows up in the
    change feed and on the Sync tab."""
    rng = random.Random()
    while True:
        await asyncio.sleep(interval)
        connected = await _connected(store)
        reachable = []
        for environment in sync.environments:
            link = links[environment.integration]
            row = connected.get((environment.key, environment.integration))
            sandbox = link.integration.sandbox
            if row is None or sandbox is None or sandbox.demo_change is None or not link.options.uses_sandbox:
                continue
            accessible = {item.code for item in row.accessible or []}
            reachable += [(environment, item, link.base_url, sandbox.demo_change)
                          for item in environment.administrations if item.code in accessible]
        if not reachable:
            continue
        environment, administration, url, demo_change = rng.choice(reachable)
        entity = await demo_change(url, administration.code, rng)
        if entity is None:
            continue
        try:
            await sync.request(environment.key, administration.code, SyncKind.INCREMENTAL, SyncTrigger.MANUAL,
                               [entity], ACTOR.name)
        except Refused as refused:
            log.warning("demo sync refused: %s", refused)


def demo_invoice(rng: random.Random, number: int, day: date) -> dict[str, Any]:
    """The demo's purchase invoice for an integration whose sandbox names none of its own (Exact Online's codes:
    journal 60, supplier S001, GL 4000). A dict: it is an action's payload, JSON as the invoice product hands it in."""
    return {"journal": "60", "supplier": "S001", "entry_date": day.isoformat(), "description": f"Demo invoice {number}",
            "lines": [{"gl_account": "4000", "amount": round(rng.uniform(20, 2500), 2), "vat_code": "2"}]}


async def trickle(settings: Settings, store: Store, clock: Clock, dispatcher: Dispatcher, interval: float) -> None:
    """Hand in an invoice action every `interval` seconds, as the invoice product would, into the integrations
    that book (Visma.net is a mirror target only)."""
    rng = random.Random()
    number = await store.read(storage.action_count)
    environments = [environment for environment in demo_environments(settings, dispatcher.links)
                    if ActionKind.BOOK in dispatcher.links[environment.integration].integration.action_kinds]
    while environments:
        number += 1
        environment = rng.choice(environments)
        administration = rng.choice(environment.administrations)
        sandbox = dispatcher.links[environment.integration].integration.sandbox
        make_invoice = sandbox.demo_invoice if sandbox is not None and sandbox.demo_invoice else demo_invoice
        request = msgspec.convert({
            "idempotency_key": f"DEMO-{number:06d}", "integration": environment.integration,
            "environment": environment.key,
            "administration": administration.code, "kind": rng.choice(["book", "book", "book_and_block"]),
            "payload": dict(make_invoice(rng, number, date.today())),
        }, outbox.ActionRequest)
        try:
            await store.write(outbox.accept, settings, DEMO_CLIENT, clock(), request)
            dispatcher.wake()
        except Refused as refused:
            log.warning("demo action refused: %s", refused)
        await asyncio.sleep(interval)
