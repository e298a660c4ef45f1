"""Rate limits obeyed, not discovered; retries that never book twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from exact_online_helpers import (  # noqa: F401 (fixtures)
    ANSWER_TIMEOUT,
    CLIENT_TIMEOUT,
    FakeTime,
    anyio_backend_fixture,
    connected,
    control,
    exchanges,
    fake_time_fixture,
    invoice,
    ledger,
    sandbox_fixture,
)

from integrations.base import ActionKind, NoAccess, OutcomeUnknown, RateLimited, TransientError
from integrations.exact_online.connector import PURCHASE_ENTRIES
from integrations.exact_online.sandbox import ExactOnlineSandbox

pytestmark = pytest.mark.anyio


async def test_a_tight_minutely_limit_is_waited_out_without_a_single_429(sandbox: ExactOnlineSandbox,
                                                                          fake_time: FakeTime) -> None:
    control(sandbox, "faults", {"minutely_limit": 5})
    started = fake_time()
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        results = await asyncio.gather(*(exact.execute(invoice(f"inv-{n}", "201")) for n in range(12)))
    assert sorted(r.reference for r in results) == sorted(f"inv-{n}" for n in range(12))
    assert len(ledger(sandbox)) == 12
    assert "429" not in control(sandbox, "traffic")["statuses"]
    # 12 calls at 5 a minute: two waits for the next minute, and no more.
    assert len(fake_time.slept) == 2
    assert timedelta(minutes=2) >= fake_time() - started > timedelta(minutes=1)
    # Five in the minute it began, five the next, two the one after: in that order, each minute's full share.
    minutes = [x["at"][11:16] for x in exchanges(sandbox, "purchaseentry/PurchaseEntries")]
    assert minutes == ["09:30"] * 5 + ["09:31"] * 5 + ["09:32"] * 2


async def test_a_spent_daily_limit_is_handed_back_with_the_time_it_resets(sandbox: ExactOnlineSandbox,
                                                                          fake_time: FakeTime) -> None:
    control(sandbox, "faults", {"daily_limit": 3})
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        for n in range(3):
            await exact.execute(invoice(f"inv-{n}", "201"))
        with pytest.raises(RateLimited) as limited:
            await exact.execute(invoice("inv-3", "201"))
        await exact.execute(invoice("inv-4", "202"))  # another division has a budget of its own
    assert limited.value.retry_at.isoformat() == "2026-11-24T00:00:00+00:00"
    assert [entry["your_ref"] for entry in ledger(sandbox)] == ["inv-0", "inv-1", "inv-2", "inv-4"]
    assert "429" not in control(sandbox, "traffic")["statuses"]


@pytest.mark.parametrize("fault", [
    {"fail_next": 3},
    {"fail_next": 2, "after_booking": True},
    {"hang_next": 1, "hang_seconds": 1.0},
    {"hang_next": 1, "hang_seconds": 1.0, "after_booking": True},
], ids=["5xx-before-booking", "5xx-after-booking", "timeout-before-booking", "timeout-after-booking"])
async def test_failed_sends_are_looked_up_and_retried_without_booking_twice(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime, fault: dict
) -> None:
    timeout = CLIENT_TIMEOUT if "hang_next" in fault else ANSWER_TIMEOUT
    async with await connected(sandbox, fake_time, "p.jansen", timeout=timeout) as exact:
        control(sandbox, "faults", fault)
        first = await exact.execute(invoice("inv-1", "201"))
        second = await exact.execute(invoice("inv-2", "201", ActionKind.BOOK_AND_BLOCK))
    entries = ledger(sandbox)
    assert [entry["your_ref"] for entry in entries] == ["inv-1", "inv-2"]
    assert [first.entry_number, second.entry_number] == [str(entry["entry_number"]) for entry in entries]
    assert entries[1]["payment_blocked"] is True
    lookups = [x for x in exchanges(sandbox, "purchaseentry/PurchaseEntries") if x["method"] == "GET"]
    assert lookups, "every unclear send was looked up before anything else"


async def test_a_lookup_that_fails_too_leaves_the_outcome_unknown_until_it_can_be_looked_up(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    action = invoice("inv-1", "201")
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        control(sandbox, "faults", {"fail_next": 50})
        with pytest.raises(OutcomeUnknown) as unknown:
            await exact.execute(action)
        control(sandbox, "faults", {"fail_next": 0})
        assert await exact.find_result(action) is None
        booked = await exact.execute(action)
        assert await exact.find_result(action) == booked
    assert unknown.value.idempotency_key == "inv-1"
    assert [entry["your_ref"] for entry in ledger(sandbox)] == ["inv-1"]


async def test_retries_back_off_with_jitter_and_stop(sandbox: ExactOnlineSandbox, fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        control(sandbox, "faults", {"fail_next": 50, "fail_status": 502})
        with pytest.raises(TransientError, match="HTTP 502"):
            await exact.has_right("201", PURCHASE_ENTRIES, "POST")
    # Four attempts, three pauses, each drawn below a ceiling that doubles: 0.5, 1, 2 seconds.
    assert len(fake_time.slept) == 3
    assert all(0 <= pause <= 0.5 * 2**n for n, pause in enumerate(fake_time.slept))
    assert len(set(fake_time.slept)) == 3


async def test_a_refused_connection_is_retried_without_a_lookup(sandbox: ExactOnlineSandbox,
                                                                  fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        sandbox.stop()  # nothing listens: each attempt fails before a byte is sent, so nothing needs looking up
        with pytest.raises(TransientError, match="POST purchaseentry/PurchaseEntries: ConnectError"):
            await exact.execute(invoice("inv-1", "201"))
    assert len(fake_time.slept) == 3


async def test_more_than_ten_errors_an_hour_block_the_app_which_is_why_nothing_probes_by_failing(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        for _ in range(11):  # what a naive rights check would do: try, and learn from the 403
            with pytest.raises(NoAccess):
                await exact.has_right("203", PURCHASE_ENTRIES, "POST")
        with pytest.raises(RateLimited) as blocked:
            await exact.execute(invoice("inv-1", "201"))
    assert timedelta(minutes=59) < blocked.value.retry_at - fake_time() <= timedelta(hours=1, seconds=1)
    assert ledger(sandbox) == []
    assert list(control(sandbox, "traffic")["blocked_apps"]) == ["sandbox-client"]
