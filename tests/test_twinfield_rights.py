"""The pre-booking rights check against the Twinfield sandbox: refused before anything is sent, misroutes caught
after. The demo's Petra Jansen runs the Jansen Groep connection and can open NLA201 and NLA202, not NLA203; her
default office is NLA201."""

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

from integrations.base import ActionKind, Misroute, NoAccess
from integrations.rights import RightsCheck
from integrations.twinfield.connector import BROWSE, TRANSACTIONS
from integrations.twinfield.sandbox import TwinfieldSandbox

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("kind", [ActionKind.BOOK, ActionKind.BOOK_AND_BLOCK, ActionKind.CREATE_SUPPLIER])
async def test_an_office_the_user_cannot_open_is_refused_before_anything_is_sent(
    sandbox: TwinfieldSandbox, fake_time: FakeTime, kind: ActionKind
) -> None:
    control(sandbox, "faults", {"misroute_bug": True})  # even a Twinfield that would misroute gets nothing to misroute
    action = invoice("inv-1", "NLA203", kind) if kind is not ActionKind.CREATE_SUPPLIER else \
        relation(kind, "40012", office="NLA203")
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        with pytest.raises(NoAccess) as refused:
            await RightsCheck(twinfield, clock=fake_time).execute(action)
    assert (refused.value.administration, refused.value.reason) == (
        "NLA203", "not among the connection user's accessible administrations")
    assert ledger(sandbox) == [] and control(sandbox, "ledger")["dimensions"] == []
    assert exchanges(sandbox, "ProcessXml") == []
    assert [x["operation"] for x in exchanges(sandbox, "Finder")] == ["OFF"]


async def test_twinfields_own_refusal_is_no_access_with_its_message_and_books_nothing(
    sandbox: TwinfieldSandbox, fake_time: FakeTime
) -> None:
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        with pytest.raises(NoAccess) as refused:
            await twinfield.execute(invoice("inv-1", "NLA203"))  # without the check: Twinfield itself says no
    assert refused.value.remote_reason == "Access denied. No access to office NLA203."
    assert refused.value.administration == "NLA203"
    assert ledger(sandbox) == []


async def test_rights_are_asked_once_a_minute_per_connection(sandbox: TwinfieldSandbox,
                                                             fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        check = RightsCheck(twinfield, clock=fake_time)
        for n in range(4):
            await check.execute(invoice(f"inv-{n}", "NLA201" if n % 2 else "NLA202"))
            fake_time.advance(10)
        assert len(exchanges(sandbox, "Finder")) == 1  # one OFF answers the office and every right in it
        fake_time.advance(30)
        await check.execute(invoice("inv-4", "NLA201"))
    assert len(exchanges(sandbox, "Finder")) == 2
    assert [entry["office"] for entry in ledger(sandbox)] == ["NLA202", "NLA201", "NLA202", "NLA201", "NLA201"]


async def test_every_right_of_an_action_is_an_office_the_user_can_open(sandbox: TwinfieldSandbox,
                                                                       fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        assert twinfield.rights_needed(ActionKind.BOOK)[0].endpoint == TRANSACTIONS
        assert await twinfield.has_right("NLA201", BROWSE, "read") is True
        assert await twinfield.has_right("NLA203", TRANSACTIONS, "write") is False


async def test_rights_lost_within_the_cache_time_are_caught_as_a_misroute_naming_the_office_booked(
    sandbox: TwinfieldSandbox, fake_time: FakeTime
) -> None:
    # Petra could open NLA203 when the cache was filled; an administrator took that away seconds later, and a
    # Twinfield with the 2019 bug, instead of refusing, books into the office she opens by default.
    control(sandbox, "users/PJANSEN", {"offices": ["NLA201", "NLA202", "NLA203"]})
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        check = RightsCheck(twinfield, clock=fake_time)
        await check.execute(invoice("inv-1", "NLA203"))
        control(sandbox, "users/PJANSEN", {"offices": ["NLA201", "NLA202"]})
        control(sandbox, "faults", {"misroute_bug": True})
        fake_time.advance(20)
        with pytest.raises(Misroute) as misroute:
            await check.execute(invoice("inv-2", "NLA203"))
        # The lookup before any resend sees the same misroute, so the invoice is not booked a second time.
        with pytest.raises(Misroute):
            await check.find_result(invoice("inv-2", "NLA203"))
    first, misrouted = ledger(sandbox)
    assert (first["office"], first["asked_office"]) == ("NLA203", "NLA203")
    assert (misrouted["office"], misrouted["asked_office"], misrouted["invoice_number"]) == (
        "NLA201", "NLA203", "inv-2")
    assert (misroute.value.asked, misroute.value.booked, misroute.value.entry_number) == (
        "NLA203", "NLA201", misrouted["number"])
    assert misroute.value.entry_id == f"INK/{misrouted['number']}"


async def test_a_release_found_in_another_office_is_never_sent(sandbox: TwinfieldSandbox,
                                                               fake_time: FakeTime) -> None:
    control(sandbox, "users/PJANSEN", {"offices": ["NLA201", "NLA202", "NLA203"]})
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        await twinfield.execute(invoice("inv-1", "NLA201", ActionKind.BOOK_AND_BLOCK))
        control(sandbox, "users/PJANSEN", {"offices": ["NLA201", "NLA202"]})
        control(sandbox, "faults", {"misroute_bug": True})
        with pytest.raises(Misroute) as misroute:
            await twinfield.execute(release("inv-1-release", "inv-1", office="NLA203"))
    assert (misroute.value.asked, misroute.value.booked) == ("NLA203", "NLA201")
    assert [entry["blocked"] for entry in ledger(sandbox)] == [True]
    assert [x["operation"] for x in writes(sandbox)] == ["transaction"]
