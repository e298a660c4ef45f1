"""Invoice actions carried out through the Twinfield connector, and what the sandbox's ledger shows for them."""

from __future__ import annotations

import pytest
from twinfield_helpers import (  # noqa: F401 (fixtures)
    FakeTime,
    anyio_backend_fixture,
    connected,
    control,
    exchanges,
    fake_time_fixture,
    invoice,
    ledger,
    relation,
    release,
    sandbox_fixture,
    writes,
)

from integrations.base import ActionKind, InvalidAction, InvoiceAction, RemoteError
from integrations.twinfield.sandbox import TwinfieldSandbox

pytestmark = pytest.mark.anyio


async def test_a_booking_lands_once_in_the_office_asked_with_its_key_as_invoice_number(
    sandbox: TwinfieldSandbox, fake_time: FakeTime
) -> None:
    action = invoice("inv-2026-0042", "NLA202", amount=242.5)
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        result = await twinfield.execute(action)
        found = await twinfield.find_result(action)
    [entry] = ledger(sandbox)
    assert (entry["office"], entry["asked_office"], entry["invoice_number"], entry["amount"], entry["supplier"],
            entry["booked_by"], entry["blocked"]) == ("NLA202", "NLA202", "inv-2026-0042", 242.5, "2003", "PJANSEN",
                                                      False)
    assert (result.administration, result.reference, result.amount) == ("NLA202", "inv-2026-0042", 242.5)
    assert (result.entry_number, result.entry_id) == (entry["number"], f"INK/{entry['number']}")
    assert found == result
    assert [x["operation"] for x in writes(sandbox)] == ["transaction"]


async def test_calls_go_to_the_cluster_the_token_validation_names(sandbox: TwinfieldSandbox,
                                                                  fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        await twinfield.execute(invoice("inv-1", "NLA201"))
    async with await connected(sandbox, fake_time, "MGROEN") as twinfield:
        await twinfield.execute(invoice("inv-2", "NLA301"))
    served = [(x["organisation"], x["cluster"]) for x in exchanges(sandbox, "ProcessXml")]
    assert set(served) == {("JANSEN", "eu2"), ("GROEN", "eu1")}


async def test_book_and_block_holds_the_payment_until_released(sandbox: TwinfieldSandbox,
                                                               fake_time: FakeTime) -> None:
    booking = invoice("inv-1", "NLA201", ActionKind.BOOK_AND_BLOCK)
    unblock = release("inv-1-release", "inv-1")
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        booked = await twinfield.execute(booking)
        assert ledger(sandbox)[0]["blocked"] is True
        assert await twinfield.find_result(booking) == booked
        assert await twinfield.find_result(unblock) is None
        released = await twinfield.execute(unblock)
        assert await twinfield.find_result(unblock) == released
        assert await twinfield.execute(unblock) == released  # releasing again changes nothing
    [entry] = ledger(sandbox)
    assert (entry["office"], entry["blocked"]) == ("NLA201", False)
    assert released.entry_number == booked.entry_number and released.reference == "inv-1"
    assert [x["operation"] for x in writes(sandbox)] == ["transaction", "paymentblock"]


async def test_releasing_an_invoice_that_was_never_booked_is_refused(sandbox: TwinfieldSandbox,
                                                                     fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        with pytest.raises(RemoteError, match="no transaction with invoice number 'inv-9' in office NLA201"):
            await twinfield.execute(release("inv-9-release", "inv-9"))
    assert writes(sandbox) == []


@pytest.mark.parametrize(("kind", "dimension_type"), [(ActionKind.CREATE_SUPPLIER, "CRD"),
                                                      (ActionKind.CREATE_CUSTOMER, "DEB")])
async def test_a_relation_is_created_once_found_by_its_code_and_never_overwritten(
    sandbox: TwinfieldSandbox, fake_time: FakeTime, kind: ActionKind, dimension_type: str
) -> None:
    action = relation(kind, "40012")
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        control(sandbox, "faults", {"fail_next": 1, "after_booking": True})
        created = await twinfield.execute(action)
        assert await twinfield.find_result(action) == created
        with pytest.raises(RemoteError, match=f"{dimension_type} 40012 already exists in office NLA201"):
            await twinfield.execute(action)
    [dimension] = control(sandbox, "ledger")["dimensions"]
    assert dimension == {"office": "NLA201", "type": dimension_type, "code": "40012",
                         "name": "Installatiebedrijf Noord", "created_by": "PJANSEN", "country": "NL",
                         "email": "crediteuren@noord.example", "vat_number": "NL001234567B01"}
    assert (created.administration, created.reference, created.entry_id) == (
        "NLA201", "40012", f"{dimension_type}/40012")
    assert len([x for x in writes(sandbox) if x["status"] == 200]) == 0  # the one send was struck after it worked
    assert len(writes(sandbox)) == 1


async def test_a_refused_document_keeps_twinfields_message(sandbox: TwinfieldSandbox, fake_time: FakeTime) -> None:
    action = invoice("inv-1", "NLA201", supplier="9999")
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        with pytest.raises(RemoteError) as refused:
            await twinfield.execute(action)
    assert (refused.value.status, refused.value.code, refused.value.message) == (
        200, "dim2", "dim2: Crediteur 9999 bestaat niet in administratie NLA201.")
    assert ledger(sandbox) == []


async def test_the_finder_lists_offices_and_dimensions_by_type_page_by_page(sandbox: TwinfieldSandbox,
                                                                            fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        offices = await twinfield.accessible_administrations()
        suppliers = await twinfield.dimensions("NLA201", "CRD")
        cost_centres = await twinfield.dimensions("NLA201", "KPL")
        customers = await twinfield.dimensions("NLA202", "DEB", pattern="100*")
    assert [(o.code, o.name) for o in offices] == [("NLA201", "Jansen Installatietechniek B.V."),
                                                   ("NLA202", "Jansen Holding B.V.")]
    assert [code for code, _ in suppliers] == [str(n) for n in range(2000, 2025)]  # the hidden 2999 is left out
    assert cost_centres == [("100", "Algemeen"), ("101", "Verkoop"), ("102", "Productie"), ("103", "Inkoop"),
                            ("104", "Directie")]
    assert [code for code, _ in customers] == [str(n) for n in range(1000, 1010)]
    finder = [x["operation"] for x in exchanges(sandbox, "Finder")]
    assert finder == ["OFF", "DIM", "DIM", "DIM"]


async def test_a_malformed_action_is_refused_before_anything_is_sent(sandbox: TwinfieldSandbox,
                                                                     fake_time: FakeTime) -> None:
    no_lines = invoice("inv-1", "NLA201")
    del no_lines.payload["lines"]
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        with pytest.raises(InvalidAction, match="lines"):
            await twinfield.execute(no_lines)
        with pytest.raises(InvalidAction, match="not a Twinfield office code"):
            await twinfield.execute(invoice("inv-2", "NLA201/../NLA202"))
        with pytest.raises(InvalidAction, match="invoice number"):
            await twinfield.execute(invoice("k" * 41, "NLA201"))
        with pytest.raises(InvalidAction, match="missing required field `booking_key`"):
            await twinfield.execute(InvoiceAction(idempotency_key="x", kind=ActionKind.UNBLOCK,
                                                  administration="NLA201", payload={}))
    assert exchanges(sandbox, "ProcessXml") == []
