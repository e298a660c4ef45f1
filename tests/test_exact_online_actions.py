"""Invoice actions carried out through the connector, and what the sandbox's ledger shows for them."""

from __future__ import annotations

import pytest
from exact_online_helpers import (  # noqa: F401 (fixtures)
    FakeTime,
    anyio_backend_fixture,
    connected,
    control,
    exchanges,
    fake_time_fixture,
    invoice,
    ledger,
    sandbox_fixture,
    start_sandbox,
)

from integrations.base import ActionKind, InvoiceAction, RemoteError
from integrations.exact_online.sandbox import ExactOnlineSandbox, SandboxDivision, SandboxUser, Scenario

pytestmark = pytest.mark.anyio


def relation(kind: ActionKind, code: str, administration: str = "201") -> InvoiceAction:
    return InvoiceAction(idempotency_key=f"relation-{code}", kind=kind, administration=administration,
                         payload={"code": code, "name": "Installatiebedrijf Noord", "vat_number": "NL001234567B01"})


def release(key: str, booking_key: str, administration: str = "201") -> InvoiceAction:
    return InvoiceAction(idempotency_key=key, kind=ActionKind.UNBLOCK, administration=administration,
                         payload={"booking_key": booking_key})


async def test_a_booking_carries_its_key_as_your_ref_and_answers_with_its_entry(sandbox: ExactOnlineSandbox,
                                                                                fake_time: FakeTime) -> None:
    action = invoice("inv-2026-0042", "202", amount=242.5)
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        result = await exact.execute(action)
        found = await exact.find_result(action)
    [entry] = ledger(sandbox)
    assert (entry["division"], entry["your_ref"], entry["amount"], entry["booked_by"]) == (
        202, "inv-2026-0042", 242.5, "p.jansen")
    assert result.administration == "202" and result.reference == "inv-2026-0042" and result.amount == 242.5
    assert (result.entry_number, result.entry_id) == (str(entry["entry_number"]), entry["entry_id"])
    assert found == result


async def test_keys_with_quotes_are_looked_up_exactly(sandbox: ExactOnlineSandbox, fake_time: FakeTime) -> None:
    tricky = invoice("O'Brien' or YourRef eq 'x", "201")
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        await exact.execute(invoice("x", "201"))
        assert await exact.find_result(tricky) is None
        booked = await exact.execute(tricky)
        assert await exact.find_result(tricky) == booked


async def test_book_and_block_holds_the_payment_until_unblocked(sandbox: ExactOnlineSandbox,
                                                                fake_time: FakeTime) -> None:
    booking = invoice("inv-1", "201", ActionKind.BOOK_AND_BLOCK)
    unblock = release("inv-1-release", "inv-1")
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        booked = await exact.execute(booking)
        assert ledger(sandbox)[0]["payment_blocked"] is True
        assert await exact.find_result(unblock) is None
        released = await exact.execute(unblock)
        assert await exact.find_result(unblock) == released
    [entry] = ledger(sandbox)
    assert entry["payment_blocked"] is False
    assert released.entry_number == booked.entry_number and released.reference == "inv-1"


async def test_a_book_and_block_interrupted_between_its_steps_is_finished_by_looking_it_up(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    action = invoice("inv-1", "201", ActionKind.BOOK_AND_BLOCK)
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        # The first step went through, then the process died: the entry exists, its payment is not blocked.
        await exact.execute(InvoiceAction(idempotency_key="inv-1", kind=ActionKind.BOOK, administration="201",
                                          payload=action.payload))
        result = await exact.find_result(action)
    [entry] = ledger(sandbox)
    assert result is not None and result.entry_number == str(entry["entry_number"])
    assert entry["payment_blocked"] is True


async def test_unblocking_an_invoice_that_was_never_booked_is_refused(sandbox: ExactOnlineSandbox,
                                                                      fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        with pytest.raises(RemoteError, match="no entry with YourRef 'inv-9'"):
            await exact.execute(release("inv-9-release", "inv-9"))


@pytest.mark.parametrize(("kind", "supplier"), [(ActionKind.CREATE_SUPPLIER, True),
                                                 (ActionKind.CREATE_CUSTOMER, False)])
async def test_a_relation_is_created_once_and_found_by_its_code(sandbox: ExactOnlineSandbox, fake_time: FakeTime,
                                                                kind: ActionKind, supplier: bool) -> None:
    action = relation(kind, "40012")
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        control(sandbox, "faults", {"fail_next": 1, "after_booking": True})
        created = await exact.execute(action)
        assert await exact.find_result(action) == created
        with pytest.raises(RemoteError, match="already exists"):
            await exact.execute(action)
    [account] = control(sandbox, "ledger")["accounts"]
    assert (account["code"], account["division"], account["is_supplier"], account["is_sales"]) == (
        "40012", 201, supplier, not supplier)
    assert (created.administration, created.reference) == ("201", "40012")


async def test_the_division_list_is_asked_through_the_division_the_user_opened_last(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        await exact.accessible_administrations()
        control(sandbox, "users/p.jansen", {"current_division": 202, "divisions": [202, 203]})
        assert [a.code for a in await exact.accessible_administrations()] == ["202", "203"]
    assert [x["division"] for x in exchanges(sandbox, "system/Divisions")] == [201, 202]
    assert control(sandbox, "traffic")["errors"] == []


async def test_accessible_administrations_are_read_page_by_page(fake_time: FakeTime) -> None:
    codes = list(range(5001, 5151))
    scenario = Scenario(
        name="accounting firm",
        divisions=[SandboxDivision(code, f"Client {code}", "Kantoor Visser") for code in codes],
        users=[SandboxUser("e.visser", "Eva Visser", set(codes), current_division=5001)],
    )
    sandbox = start_sandbox(scenario, fake_time)
    try:
        async with await connected(sandbox, fake_time, "e.visser") as exact:
            administrations = await exact.accessible_administrations()
        assert [a.code for a in administrations] == [str(code) for code in codes]
        assert len(exchanges(sandbox, "system/Divisions")) == 3  # 60 + 60 + 30
    finally:
        sandbox.stop()
