"""The demo that `statuspage serve` runs out of the box, against the Exact Online sandbox only.

So that a newcomer sees the real thing at once: the sandbox's environments are connected under
their users (Jansen Groep's user cannot open Jansen Verhuur), a trickle of invoice actions flows in
as from the invoice product, and a fresh operator token is printed to sign in with. Switch Exact
Online off in the console, watch actions wait as delayed, switch it on and watch the replay.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from datetime import date
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec

from integrations.exact_online.sandbox import demo_scenario
from statuspage.actions import outbox
from statuspage.actions.connections import EXACT_ONLINE, ExactOnlineLink
from statuspage.actions.dispatcher import Dispatcher
from statuspage.core import storage
from statuspage.core.auth import new_token
from statuspage.core.clock import Clock
from statuspage.core.operation import Actor, Refused
from statuspage.core.settings import Settings
from statuspage.core.storage import Store
from statuspage.incidents import operations

log = logging.getLogger("statuspage.demo")

DEMO_OPERATOR = "demo-operator"
DEMO_CLIENT = "demo-invoice-product"
ACTOR = Actor("demo")


async def start_demo(settings: Settings, store: Store, clock: Clock, link: ExactOnlineLink, dispatcher: Dispatcher) -> None:
    token = await store.write(_fresh_operator_token, settings, clock())
    announce(token_banner(f"{settings.page.url}/console", token))
    await connect_sandbox_environments(settings, store, link)
    await trickle(settings, store, clock, dispatcher, settings.demo.seconds_between_actions)


def token_banner(console: str, token: str) -> str:
    """The operator token at start-up, framed so that it stands out among the log lines around it."""
    lines = ["statuspage demo: sign in to the console", f"  at     {console}", f"  token  {token}"]
    rule = "=" * max(len(line) for line in lines)
    return "\n".join(["", rule, *lines, rule, ""])


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


async def connect_sandbox_environments(settings: Settings, store: Store, link: ExactOnlineLink) -> None:
    """Click "Connect to Exact Online" for each demo environment not connected yet, as its sandbox user."""
    connected = {row["environment"] for row in await store.read(storage.connections, EXACT_ONLINE) if row["user_name"]}
    users = {environment.name: environment.connection_user for environment in demo_scenario().environments}
    async with httpx.AsyncClient() as http:
        for environment in settings.environments:
            username = users.get(environment.name)
            if username is None or environment.key in connected:
                continue
            answer = await http.post(f"{link.app.base_url}/api/oauth2/auth", data={
                "client_id": link.app.client_id, "redirect_uri": link.app.redirect_uri, "state": "demo",
                "username": username})
            code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
            user = await link.connect(environment.key, code, ACTOR.name)
            log.info("demo: %s connected under %s", environment.name, user.full_name)


async def trickle(settings: Settings, store: Store, clock: Clock, dispatcher: Dispatcher, interval: float) -> None:
    """Hand in an invoice action every `interval` seconds, as the invoice product would."""
    rng = random.Random()
    number = await store.read(storage.action_count)
    while True:
        number += 1
        environment = rng.choice(settings.environments)
        administration = rng.choice(environment.administrations)
        request = msgspec.convert({
            "idempotency_key": f"DEMO-{number:06d}", "integration": EXACT_ONLINE, "environment": environment.key,
            "administration": administration.code, "kind": rng.choice(["book", "book", "book_and_block"]),
            "payload": {"journal": "60", "supplier": "S001", "entry_date": date.today().isoformat(),
                        "description": f"Demo invoice {number}",
                        "lines": [{"gl_account": "4000", "amount": round(rng.uniform(20, 2500), 2), "vat_code": "2"}]},
        }, outbox.ActionRequest)
        try:
            await store.write(outbox.accept, settings, DEMO_CLIENT, clock(), request)
            dispatcher.wake()
        except Refused as refused:
            log.warning("demo action refused: %s", refused)
        await asyncio.sleep(interval)
