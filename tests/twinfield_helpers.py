"""Shared by the Twinfield tests: one fake time for sandbox and connector, the sign-in flow over HTTP, and short
ways to read and steer the sandbox through its `/_sandbox/` controls."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from integrations.base import ActionKind, InvoiceAction
from integrations.twinfield import InMemoryTokenStore, OAuthApp, Tokens, TwinfieldConnector, TwinfieldSettings
from integrations.twinfield.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, TwinfieldSandbox, demo_scenario

JANSEN_ENVIRONMENT = """
[[environments]]
key = "jansen-twinfield"
name = "Jansen Groep"
integration = "twinfield"
administrations = [{ code = "NLA201", name = "Jansen Installatietechniek B.V." },
                   { code = "NLA202", name = "Jansen Holding B.V." }, { code = "NLA203", name = "Jansen Verhuur B.V." }]
"""
"""The service's configuration of the sandbox's Jansen Groep (`PJANSEN` cannot open NLA203)."""
MONDAY_MORNING = datetime(2026, 11, 23, 9, 30, 10, tzinfo=UTC)
REDIRECT_URI = "https://status.example.test/connections/jansen/twinfield/callback"
CLIENT_TIMEOUT = 0.25
"""Seconds the connector waits for an answer where a test makes the sandbox hang: hangs last longer."""
ANSWER_TIMEOUT = 30.0
"""Seconds it waits everywhere else: an answer a loaded machine is slow to give is waited for, not timed out and
retried, so that what a test counts (calls, waits) is never a matter of load."""

plain_http = httpx.Client(timeout=5)


class FakeTime:
    """The one clock of a test, shared by sandbox and connector. Sleeping moves it instead of waiting."""

    def __init__(self, now: datetime = MONDAY_MORNING) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)


class RecordingTokenStore(InMemoryTokenStore):
    """Remembers every save; `on_save` sees each new pair before anyone may use it."""

    def __init__(self, on_save: Callable[[Tokens], None] = lambda tokens: None) -> None:
        super().__init__()
        self.saved: list[Tokens] = []
        self._on_save = on_save

    async def save(self, tokens: Tokens) -> None:
        self._on_save(tokens)
        self.saved.append(tokens)
        await super().save(tokens)


@pytest.fixture(name="anyio_backend")
def anyio_backend_fixture() -> str:
    return "asyncio"


@pytest.fixture(name="fake_time")
def fake_time_fixture() -> FakeTime:
    return FakeTime()


@pytest.fixture(name="sandbox")
def sandbox_fixture(fake_time: FakeTime) -> Iterator[TwinfieldSandbox]:
    with TwinfieldSandbox(demo_scenario(), clock=fake_time, seed=7) as running:
        yield running


def oauth_app(sandbox: TwinfieldSandbox) -> OAuthApp:
    return OAuthApp(client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET, redirect_uri=REDIRECT_URI,
                    login_url=sandbox.url)


def connector_for(
    sandbox: TwinfieldSandbox, fake_time: FakeTime, store: InMemoryTokenStore | None = None, **settings: Any
) -> TwinfieldConnector:
    options = {"connect_timeout": ANSWER_TIMEOUT, "read_timeout": ANSWER_TIMEOUT, "attempts": 4, **settings}
    gates = options.pop("gates", None)
    return TwinfieldConnector(
        oauth_app(sandbox), store if store is not None else InMemoryTokenStore(),
        settings=TwinfieldSettings(**options), clock=fake_time, sleep=fake_time.sleep, rng=random.Random(3),
        gates=gates,
    )


def authorization_code(sandbox: TwinfieldSandbox, user: str, state: str = "csrf-state-1",
                       redirect_uri: str = REDIRECT_URI) -> str:
    """Sign in on the sandbox's page as `user` and press Authorize, as a person would."""
    page = plain_http.get(f"{sandbox.url}/auth/authentication/connect/authorize", params={
        "client_id": SANDBOX_CLIENT_ID, "redirect_uri": redirect_uri, "response_type": "code", "state": state,
        "scope": "openid twf.user twf.organisation twf.organisationUser offline_access", "nonce": "n-1"})
    assert page.status_code == 200 and f'value="{user}"' in page.text, page.text
    answer = plain_http.post(f"{sandbox.url}/auth/authentication/connect/authorize", data={
        "client_id": SANDBOX_CLIENT_ID, "redirect_uri": redirect_uri, "state": state, "user": user})
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == [state]
    return query["code"][0]


async def connected(
    sandbox: TwinfieldSandbox, fake_time: FakeTime, user: str, store: InMemoryTokenStore | None = None,
    **settings: Any,
) -> TwinfieldConnector:
    connector = connector_for(sandbox, fake_time, store, **settings)
    await connector.connect(authorization_code(sandbox, user))
    return connector


def control(sandbox: TwinfieldSandbox, name: str, change: dict[str, Any] | None = None) -> Any:
    url = f"{sandbox.url}/_sandbox/{name}"
    answer = plain_http.get(url) if change is None else plain_http.post(url, json=change)
    assert answer.status_code == 200, answer.text
    return answer.json()


def ledger(sandbox: TwinfieldSandbox) -> list[dict[str, Any]]:
    return control(sandbox, "ledger")["transactions"]


def exchanges(sandbox: TwinfieldSandbox, service: str | None = None) -> list[dict[str, Any]]:
    return [x for x in control(sandbox, "traffic")["exchanges"] if service is None or x["service"] == service]


def writes(sandbox: TwinfieldSandbox) -> list[dict[str, Any]]:
    return [x for x in exchanges(sandbox, "ProcessXml") if x["operation"] in ("transaction", "dimension",
                                                                             "paymentblock")]


def refreshes(sandbox: TwinfieldSandbox) -> int:
    return sum(1 for x in exchanges(sandbox, "token") if x["operation"] == "refresh_token" and x["status"] == 200)


def invoice(key: str, office: str, kind: ActionKind = ActionKind.BOOK, amount: float = 121.0,
            supplier: str = "2003") -> InvoiceAction:
    return InvoiceAction(
        idempotency_key=key,
        kind=kind,
        administration=office,
        payload={
            "journal": "INK",
            "supplier": supplier,
            "entry_date": date(2026, 11, 20).isoformat(),
            "description": f"Invoice {key}",
            "lines": [{"gl_account": "7000", "amount": amount, "vat_code": "IH", "description": "Goods",
                       "cost_center": "101"}],
        },
    )


def release(key: str, booking_key: str, office: str = "NLA201") -> InvoiceAction:
    return InvoiceAction(idempotency_key=key, kind=ActionKind.UNBLOCK, administration=office,
                         payload={"booking_key": booking_key})


def relation(kind: ActionKind, code: str, office: str = "NLA201") -> InvoiceAction:
    return InvoiceAction(idempotency_key=f"relation-{code}", kind=kind, administration=office,
                         payload={"code": code, "name": "Installatiebedrijf Noord", "vat_number": "NL001234567B01",
                                  "country": "NL", "email": "crediteuren@noord.example"})
