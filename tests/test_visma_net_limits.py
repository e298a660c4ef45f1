"""Visma.net's hourly limit per company and client obeyed from its headers, without a 429 of our own making; a 429
that comes anyway is waited out for its Retry-After, and waits too long for one call are handed back."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from visma_net_helpers import (  # noqa: F401 (fixtures)
    JANSEN,
    FakeTime,
    anyio_backend_fixture,
    client_for,
    control,
    exchanges,
    fake_time_fixture,
    sandbox_fixture,
    statuses,
)

from integrations.base import RateLimited
from integrations.visma_net import CustomerDraft
from integrations.visma_net.rate_limits import Window
from integrations.visma_net.sandbox import VismaNetSandbox

pytestmark = pytest.mark.anyio

TEN_O_CLOCK = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


async def test_a_spent_hour_is_waited_out_before_the_next_call_so_visma_never_answers_429(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    control(sandbox, "faults", {"hourly_limit": 4})
    async with client_for(sandbox, fake_time, max_wait=3600) as visma:
        for n in range(6):
            await visma.create_customer(JANSEN, CustomerDraft(name=f"Relation {n}", reference=f"EOL-{n}"))
    # Six creates and six read-backs: 12 calls, three windows of 4.
    # 8: six read-backs, and two tokens: the first expired at 10:30:10, so 11:00 asked for another.
    assert statuses(sandbox) == {"200": 8, "201": 6}
    assert fake_time.slept == [1790.0, 3600.0]
    hours = [x["at"][11:13] for x in exchanges(sandbox) if x["path"] != "/connect/token"]
    assert hours == ["09"] * 4 + ["10"] * 4 + ["11"] * 4


async def test_the_budget_is_counted_down_from_the_headers(sandbox: VismaNetSandbox, fake_time: FakeTime) -> None:
    control(sandbox, "faults", {"hourly_limit": 500})
    async with client_for(sandbox, fake_time) as visma:
        await visma.list_customers(JANSEN)
        assert visma.limits.window(JANSEN.company_id) == Window(limit=500, remaining=499, reset_at=TEN_O_CLOCK)


async def test_a_reset_further_away_than_max_wait_is_handed_back_without_calling(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    control(sandbox, "faults", {"hourly_limit": 1})
    async with client_for(sandbox, fake_time, max_wait=120) as visma:
        await visma.list_customers(JANSEN)
        with pytest.raises(RateLimited) as limited:
            await visma.list_customers(JANSEN)
    assert limited.value.retry_at == TEN_O_CLOCK
    assert [x["status"] for x in exchanges(sandbox) if x["path"] == "/v1/customer"] == [200]
    assert fake_time.slept == []


async def test_a_429_is_waited_out_for_its_retry_after_and_the_call_repeated(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    control(sandbox, "faults", {"throttle_next": 1, "throttle_retry_after": 42})
    async with client_for(sandbox, fake_time) as visma:
        assert await visma.list_customers(JANSEN) == []
    assert [x["status"] for x in exchanges(sandbox, "/v1/customer")] == [429, 200]
    assert fake_time.slept == [42.0]


async def test_a_retry_after_longer_than_max_wait_is_handed_back_as_rate_limited(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    control(sandbox, "faults", {"throttle_next": 1, "throttle_retry_after": 900})
    async with client_for(sandbox, fake_time, max_wait=120) as visma:
        with pytest.raises(RateLimited) as limited:
            await visma.list_customers(JANSEN)
    assert limited.value.retry_at == datetime(2026, 11, 23, 9, 45, 10, tzinfo=UTC)
    assert fake_time.slept == []


async def test_5xx_are_retried_with_jittered_backoff_within_its_ceiling(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    control(sandbox, "faults", {"fail_next": 3})
    async with client_for(sandbox, fake_time, attempts=4, base_delay=0.5, max_delay=30) as visma:
        assert await visma.list_customers(JANSEN) == []
    assert [x["status"] for x in exchanges(sandbox, "/v1/customer")] == [503, 503, 503, 200]
    # Full jitter from the client's seeded random (helpers: Random(3)), under ceilings of 0.5, 1 and 2 seconds.
    jitter = random.Random(3)
    assert fake_time.slept == [jitter.uniform(0, 0.5), jitter.uniform(0, 1.0), jitter.uniform(0, 2.0)]
