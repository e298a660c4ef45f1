"""Shared by the Exact Online tests: one fake time for sandbox and connector, the sign-in flow over HTTP,
and short ways to read and steer the sandbox through its `/_sandbox/` controls."""

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
from integrations.exact_online import ExactOnlineConnector, InMemoryTokenStore, OAuthApp, RetryPolicy, Tokens
from integrations.exact_online.sandbox import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    ExactOnlineSandbox,
    Scenario,
    demo_scenario,
)

MONDAY_MORNING = datetime(2026, 11, 23, 9, 30, 10, tzinfo=UTC)
REDIRECT_URI = "https://status.example.test/connections/jansen/exact-online/callback"
CLIENT_TIMEOUT = 0.25
"""Seconds the connector waits for an answer where a test makes the sandbox hang: hangs last longer."""
ANSWER_TIMEOUT = 30.0
"""Seconds it waits everywhere else: an answer a loaded machine is slow to give is waited for, not timed out and
retried, so that what a test counts (calls, waits) is never a matter of load."""

# One client for the tests' own calls to the sandbox: building one costs more than a dozen requests.
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


# Fixtures for the test modules to import. Named apart from their fixture names, so a test's parameter
# does not shadow an import.
@pytest.fixture(name="anyio_backend")
def anyio_backend_fixture() -> str:
    return "asyncio"


@pytest.fixture(name="fake_time")
def fake_time_fixture() -> FakeTime:
    return FakeTime()


@pytest.fixture(name="sandbox")
def sandbox_fixture(fake_time: FakeTime) -> Iterator[ExactOnlineSandbox]:
    with ExactOnlineSandbox(demo_scenario(), clock=fake_time, seed=7) as running:
        yield running


def start_sandbox(scenario: Scenario, fake_time: FakeTime) -> ExactOnlineSandbox:
    return ExactOnlineSandbox(scenario, clock=fake_time, seed=7).start()


def oauth_app(sandbox: ExactOnlineSandbox) -> OAuthApp:
    return OAuthApp(client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET, redirect_uri=REDIRECT_URI,
                    base_url=sandbox.url)


def connector_for(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime, store: InMemoryTokenStore | None = None, **options: Any
) -> ExactOnlineConnector:
    return ExactOnlineConnector(
        oauth_app(sandbox), store if store is not None else InMemoryTokenStore(),
        timeout=options.pop("timeout", ANSWER_TIMEOUT), clock=fake_time, sleep=fake_time.sleep, rng=random.Random(3),
        retry=options.pop("retry", RetryPolicy(attempts=4)), **options,
    )


def authorization_code(sandbox: ExactOnlineSandbox, username: str, state: str = "csrf-state-1",
                       redirect_uri: str = REDIRECT_URI) -> str:
    """Sign in on the sandbox's page as `username` and press Authorize, as a person would."""
    page = plain_http.get(f"{sandbox.url}/api/oauth2/auth", params={
        "client_id": SANDBOX_CLIENT_ID, "redirect_uri": redirect_uri, "response_type": "code", "state": state})
    assert page.status_code == 200 and f'value="{username}"' in page.text
    answer = plain_http.post(f"{sandbox.url}/api/oauth2/auth", data={
        "client_id": SANDBOX_CLIENT_ID, "redirect_uri": redirect_uri, "state": state, "username": username})
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == [state]
    return query["code"][0]


async def connected(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime, username: str, store: InMemoryTokenStore | None = None,
    **options: Any,
) -> ExactOnlineConnector:
    connector = connector_for(sandbox, fake_time, store, **options)
    await connector.connect(authorization_code(sandbox, username))
    return connector


def control(sandbox: ExactOnlineSandbox, name: str, change: dict[str, Any] | None = None) -> Any:
    url = f"{sandbox.url}/_sandbox/{name}"
    answer = plain_http.get(url) if change is None else plain_http.post(url, json=change)
    assert answer.status_code == 200, answer.text
    return answer.json()


def ledger(sandbox: ExactOnlineSandbox) -> list[dict[str, Any]]:
    return control(sandbox, "ledger")["entries"]


def exchanges(sandbox: ExactOnlineSandbox, endpoint: str | None = None) -> list[dict[str, Any]]:
    return [x for x in control(sandbox, "traffic")["exchanges"] if endpoint is None or x["endpoint"] == endpoint]


def refreshes(sandbox: ExactOnlineSandbox) -> int:
    return sum(1 for x in exchanges(sandbox, "oauth2/token") if x["note"] == "refresh_token")


def invoice(key: str, administration: str, kind: ActionKind = ActionKind.BOOK, amount: float = 121.0) -> InvoiceAction:
    return InvoiceAction(
        idempotency_key=key,
        kind=kind,
        administration=administration,
        payload={
            "journal": "70",
            "supplier": "5a1f0c1e-2b6d-4c3e-9f00-0000000000a1",
            "entry_date": date(2026, 11, 20).isoformat(),
            "description": f"Invoice {key}",
            "lines": [{"gl_account": "7000", "amount": amount, "vat_code": "2", "description": "Goods"}],
        },
    )


def api_headers(sandbox: ExactOnlineSandbox, username: str) -> dict[str, str]:
    """A bearer header for calling the sandbox's API directly, after signing in as `username`."""
    answer = plain_http.post(f"{sandbox.url}/api/oauth2/token", data={
        "grant_type": "authorization_code", "code": authorization_code(sandbox, username),
        "redirect_uri": REDIRECT_URI, "client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}
