"""Shared by the Visma.net tests: one fake time for sandbox and client, a client wired to a sandbox on a free port of
127.0.0.1, and short ways to read and steer the sandbox through its `/_sandbox/` controls."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from integrations.visma_net import Company, ServiceApp, VismaNetClient, VismaNetSettings
from integrations.visma_net.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, VismaNetSandbox, empty_scenario

MONDAY_MORNING = datetime(2026, 11, 23, 9, 30, 10, tzinfo=UTC)
"""1,790 seconds before the hourly window of 09:00-10:00 resets."""
JANSEN = Company(company_id="1896329", tenant_id="5f0c1e2a-7d3b-4c59-9a61-0b8e4f2d7c31")
CLIENT_TIMEOUT = 0.25
"""Seconds the client waits for an answer where a test makes the sandbox hang: hangs last longer."""
ANSWER_TIMEOUT = 30.0
"""Seconds it waits everywhere else: an answer a loaded machine is slow to give is waited for, not timed out and
retried, so that what a test counts (calls, waits) is never a matter of load."""

plain_http = httpx.Client(timeout=5)


class FakeTime:
    """The one clock of a test, shared by sandbox and client. Sleeping moves it instead of waiting."""

    def __init__(self, now: datetime = MONDAY_MORNING) -> None:
        self.now = now
        self.slept: list[float] = []
        self.on_next_sleep: Callable[[], None] | None = None
        """Run once, at the next sleep: lets a test change the sandbox between a client's tries."""

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
        if self.on_next_sleep is not None:
            hook, self.on_next_sleep = self.on_next_sleep, None
            hook()
        await asyncio.sleep(0)


@pytest.fixture(name="anyio_backend")
def anyio_backend_fixture() -> str:
    return "asyncio"


@pytest.fixture(name="fake_time")
def fake_time_fixture() -> FakeTime:
    return FakeTime()


@pytest.fixture(name="sandbox")
def sandbox_fixture(fake_time: FakeTime) -> Iterator[VismaNetSandbox]:
    with VismaNetSandbox(empty_scenario(), clock=fake_time, seed=7) as running:
        yield running


def client_for(sandbox: VismaNetSandbox, fake_time: FakeTime, *, secret: str = SANDBOX_CLIENT_SECRET,
               **settings: Any) -> VismaNetClient:
    options = {"connect_url": sandbox.url, "api_url": sandbox.url, "connect_timeout": ANSWER_TIMEOUT,
               "read_timeout": ANSWER_TIMEOUT, "attempts": 4, **settings}
    return VismaNetClient(ServiceApp(client_id=SANDBOX_CLIENT_ID, client_secret=secret),
                          settings=VismaNetSettings(**options), clock=fake_time, sleep=fake_time.sleep,
                          rng=random.Random(3))


def control(sandbox: VismaNetSandbox, name: str, change: Any = None) -> Any:
    url = f"{sandbox.url}/_sandbox/{name}"
    answer = plain_http.get(url) if change is None else plain_http.post(url, json=change)
    assert answer.status_code == 200, answer.text
    return answer.json()


def held(sandbox: VismaNetSandbox, company: Company = JANSEN) -> list[dict[str, Any]]:
    """Every customer the sandbox holds for the company, oldest first."""
    return control(sandbox, f"companies/{company.company_id}/customers")


def seed(sandbox: VismaNetSandbox, *customers: dict[str, Any], company: Company = JANSEN) -> list[dict[str, Any]]:
    return control(sandbox, f"companies/{company.company_id}/customers", list(customers))


def exchanges(sandbox: VismaNetSandbox, path: str | None = None) -> list[dict[str, Any]]:
    return [x for x in control(sandbox, "traffic")["exchanges"] if path is None or x["path"] == path]


def statuses(sandbox: VismaNetSandbox) -> dict[str, int]:
    return control(sandbox, "traffic")["statuses"]
