"""Twinfield's limits obeyed (429 with Retry-After, one call at a time per organisation), and a flapping sandbox
that still ends with every invoice booked exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from twinfield_helpers import (  # noqa: F401 (fixtures)
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
    writes,
)

from integrations.base import (
    ActionKind,
    ActionResult,
    InvoiceAction,
    OutcomeUnknown,
    RateLimited,
    TransientError,
)
from integrations.twinfield import OrganisationGates, TwinfieldConnector
from integrations.twinfield.sandbox import TwinfieldSandbox

pytestmark = pytest.mark.anyio


async def deliver(twinfield: TwinfieldConnector, action: InvoiceAction, fake_time: FakeTime) -> ActionResult:
    """What the outbox does with an action until it is done: after any failure, look it up before sending again."""
    failed = False
    for _ in range(20):
        try:
            if failed and (found := await twinfield.find_result(action)) is not None:
                return found
            return await twinfield.execute(action)
        except (TransientError, OutcomeUnknown, RateLimited):
            failed = True
            await fake_time.sleep(60)
    raise AssertionError(f"{action.idempotency_key} was never delivered")


@pytest.mark.parametrize("fault", [
    {"fail_next": 3},
    {"fail_next": 2, "after_booking": True},
    {"fail_next": 2, "fail_status": 500, "after_booking": True},
    {"hang_next": 1, "hang_seconds": 1.0},
    {"hang_next": 1, "hang_seconds": 1.0, "after_booking": True},
], ids=["5xx-before-booking", "5xx-after-booking", "soap-server-fault-after-booking", "timeout-before-booking",
        "timeout-after-booking"])
async def test_failed_sends_are_looked_up_and_retried_without_booking_twice(
    sandbox: TwinfieldSandbox, fake_time: FakeTime, fault: dict
) -> None:
    timeout = CLIENT_TIMEOUT if "hang_next" in fault else ANSWER_TIMEOUT
    async with await connected(sandbox, fake_time, "PJANSEN", read_timeout=timeout) as twinfield:
        control(sandbox, "faults", fault)
        first = await twinfield.execute(invoice("inv-1", "NLA201"))
        second = await twinfield.execute(invoice("inv-2", "NLA201", ActionKind.BOOK_AND_BLOCK))
    entries = ledger(sandbox)
    assert [(e["invoice_number"], e["office"], e["blocked"]) for e in entries] == [
        ("inv-1", "NLA201", False), ("inv-2", "NLA201", True)]
    assert [first.entry_number, second.entry_number] == [e["number"] for e in entries]
    if fault.get("after_booking"):
        # Each struck send was looked up by its invoice number and found, instead of being sent again.
        assert [x["operation"] for x in exchanges(sandbox, "ProcessXml")][:2] == ["transaction", "columns"]


async def test_a_lookup_that_fails_too_leaves_the_outcome_unknown_until_it_can_be_looked_up(
    sandbox: TwinfieldSandbox, fake_time: FakeTime
) -> None:
    action = invoice("inv-1", "NLA201")
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        control(sandbox, "faults", {"fail_next": 50})
        with pytest.raises(OutcomeUnknown) as unknown:
            await twinfield.execute(action)
        control(sandbox, "faults", {"fail_next": 0})
        assert await twinfield.find_result(action) is None
        booked = await twinfield.execute(action)
        assert await twinfield.find_result(action) == booked
    assert unknown.value.idempotency_key == "inv-1"
    assert "the lookup failed too" in str(unknown.value)
    assert [e["invoice_number"] for e in ledger(sandbox)] == ["inv-1"]


async def test_spent_credits_are_waited_out_for_exactly_the_retry_after_twinfield_gives(
    sandbox: TwinfieldSandbox, fake_time: FakeTime
) -> None:
    control(sandbox, "faults", {"credits_per_minute": 7, "write_credits": 3})  # two bookings a minute
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        for n in range(5):
            await twinfield.execute(invoice(f"inv-{n}", "NLA201"))
    # 09:30:10: two fit, the third hears "Retry-After: 50"; 09:31:00 two more, the fifth waits a whole minute.
    assert fake_time.slept == [50.0, 60.0]
    assert [e["invoice_number"] for e in ledger(sandbox)] == [f"inv-{n}" for n in range(5)]
    assert control(sandbox, "traffic")["statuses"]["429"] == 2
    assert [x["status"] for x in writes(sandbox)] == [200, 200, 429, 200, 200, 429, 200]


async def test_a_retry_after_longer_than_the_call_may_wait_is_handed_back_as_rate_limited(
    sandbox: TwinfieldSandbox, fake_time: FakeTime
) -> None:
    control(sandbox, "faults", {"credits_per_minute": 3, "write_credits": 3})
    async with await connected(sandbox, fake_time, "PJANSEN", max_retry_after=30) as twinfield:
        await twinfield.execute(invoice("inv-1", "NLA201"))
        with pytest.raises(RateLimited) as limited:
            await twinfield.execute(invoice("inv-2", "NLA201"))
    assert limited.value.retry_at == fake_time() + timedelta(seconds=50)
    assert "the credits of this minute are spent" in str(limited.value)
    assert [e["invoice_number"] for e in ledger(sandbox)] == ["inv-1"]
    assert fake_time.slept == []


async def test_one_call_at_a_time_per_organisation_even_from_two_connections(sandbox: TwinfieldSandbox,
                                                                             fake_time: FakeTime) -> None:
    control(sandbox, "faults", {"latency_ms": 30, "concurrency_limit": 1})
    gates = OrganisationGates(concurrency=1, clock=fake_time, sleep=fake_time.sleep)
    async with await connected(sandbox, fake_time, "PJANSEN", gates=gates) as petra, \
            await connected(sandbox, fake_time, "ABAKKER", gates=gates) as anna:
        await asyncio.gather(*(petra.execute(invoice(f"p-{n}", "NLA201")) for n in range(4)),
                             *(anna.execute(invoice(f"a-{n}", "NLA203")) for n in range(4)),
                             petra.accessible_administrations(), anna.dimensions("NLA203", "CRD"))
    traffic = control(sandbox, "traffic")
    assert traffic["max_concurrent"] == {"JANSEN": 1}
    assert traffic["refused"] == {} and "429" not in traffic["statuses"]
    assert len(ledger(sandbox)) == 8
    assert gates.max_in_flight == {petra_org(sandbox): 1}


async def test_a_configured_concurrency_of_two_is_used_and_never_exceeded(sandbox: TwinfieldSandbox,
                                                                          fake_time: FakeTime) -> None:
    control(sandbox, "faults", {"latency_ms": 40, "concurrency_limit": 2})
    async with await connected(sandbox, fake_time, "PJANSEN", concurrency_per_organisation=2) as twinfield:
        await asyncio.gather(*(twinfield.execute(invoice(f"inv-{n}", "NLA201" if n % 2 else "NLA202"))
                               for n in range(8)))
    traffic = control(sandbox, "traffic")
    assert traffic["max_concurrent"] == {"JANSEN": 2}
    assert traffic["refused"] == {}
    assert sorted(e["invoice_number"] for e in ledger(sandbox)) == sorted(f"inv-{n}" for n in range(8))


async def test_a_flapping_sandbox_ends_with_every_invoice_booked_once(sandbox: TwinfieldSandbox,
                                                                      fake_time: FakeTime) -> None:
    actions = [invoice(f"inv-{n}", "NLA201" if n % 3 else "NLA202",
                       ActionKind.BOOK_AND_BLOCK if n % 4 == 0 else ActionKind.BOOK, amount=100.0 + n)
               for n in range(12)]
    async with await connected(sandbox, fake_time, "PJANSEN", read_timeout=CLIENT_TIMEOUT) as twinfield:  # hangs ahead
        results = []
        for phase, faults in enumerate([
            {"fail_rate": 0.3, "after_booking": False, "credits_per_minute": 14},
            {"fail_rate": 0.5, "after_booking": True, "hang_next": 1, "hang_seconds": 0.6},
            {"fail_rate": 0.0, "hang_next": 1, "hang_seconds": 0.6, "after_booking": False, "fail_status": 500},
        ]):
            control(sandbox, "faults", faults)
            for action in actions[phase * 4:(phase + 1) * 4]:
                results.append(await deliver(twinfield, action, fake_time))
    entries = ledger(sandbox)
    assert sorted(e["invoice_number"] for e in entries) == sorted(a.idempotency_key for a in actions)
    by_key = {e["invoice_number"]: e for e in entries}
    for action, result in zip(actions, results, strict=True):
        entry = by_key[action.idempotency_key]
        assert (entry["office"], entry["amount"], entry["blocked"]) == (
            action.administration, action.payload["lines"][0]["amount"], action.kind is ActionKind.BOOK_AND_BLOCK)
        assert result.entry_number == entry["number"]
    statuses = control(sandbox, "traffic")["statuses"]
    assert {"429", "503", "504"} <= set(statuses), statuses


async def test_retries_back_off_with_jitter_and_stop(sandbox: TwinfieldSandbox, fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        control(sandbox, "faults", {"fail_next": 50, "fail_status": 502})
        with pytest.raises(TransientError, match="HTTP 502"):
            await twinfield.accessible_administrations()
    # Four attempts, three pauses, each drawn below a ceiling that doubles: 0.5, 1, 2 seconds.
    assert len(fake_time.slept) == 3
    assert all(0 <= pause <= 0.5 * 2**n for n, pause in enumerate(fake_time.slept))
    assert len(set(fake_time.slept)) == 3


async def test_a_refused_connection_is_retried_without_a_lookup(sandbox: TwinfieldSandbox,
                                                                 fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        await twinfield.accessible_administrations()  # validated: the cluster is known
        sandbox.stop()  # nothing listens: each attempt fails before a byte is sent, so nothing needs looking up
        with pytest.raises(TransientError, match="ProcessXmlString: ConnectError"):
            await twinfield.execute(invoice("inv-1", "NLA201"))
    assert len(fake_time.slept) == 3


def petra_org(sandbox: TwinfieldSandbox) -> str:
    return sandbox.state.organisations["JANSEN"].organisation_id

