"""The pre-booking rights check against the sandbox: refused before anything is sent, misroutes caught after.

The demo's Petra Jansen runs the Jansen Groep connection and can open divisions 201 and 202, not 203.
"""

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
)

from integrations.base import Misroute, NoAccess
from integrations.exact_online.sandbox import ExactOnlineSandbox
from integrations.rights import RightsCheck

pytestmark = pytest.mark.anyio


def posts(sandbox: ExactOnlineSandbox) -> list[dict]:
    return [x for x in exchanges(sandbox) if x["method"] == "POST" and x["endpoint"] != "oauth2/token"]


async def test_an_administration_the_user_cannot_open_is_refused_before_anything_is_sent(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    control(sandbox, "faults", {"misroute_bug": True})  # even an Exact that would misroute gets nothing to misroute
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        with pytest.raises(NoAccess) as refused:
            await RightsCheck(exact, clock=fake_time).execute(invoice("inv-1", "203"))
    assert refused.value.administration == "203"
    assert "accessible administrations" in refused.value.reason
    assert ledger(sandbox) == []
    assert posts(sandbox) == []
    traffic = control(sandbox, "traffic")
    assert traffic["errors"] == [] and "403" not in traffic["statuses"]


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_missing_endpoint_right_refuses_the_booking(sandbox: ExactOnlineSandbox, fake_time: FakeTime,
                                                            method: str) -> None:
    # Without GET the lookup by YourRef would come back empty whatever was booked, and a retry would book twice.
    control(sandbox, "users/p.jansen", {"denied_rights": [["purchaseentry/PurchaseEntries", method]]})
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        with pytest.raises(NoAccess) as refused:
            await RightsCheck(exact, clock=fake_time).execute(invoice("inv-1", "201"))
    assert refused.value.reason == f"the connection user lacks the right to {method} purchaseentry/PurchaseEntries"
    assert ledger(sandbox) == [] and posts(sandbox) == []


async def test_rights_are_asked_once_a_minute_per_connection(sandbox: ExactOnlineSandbox,
                                                             fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        check = RightsCheck(exact, clock=fake_time)
        for n in range(4):
            await check.execute(invoice(f"inv-{n}", "201" if n % 2 else "202"))
            fake_time.advance(10)
        assert len(exchanges(sandbox, "system/Divisions")) == 1
        assert len(exchanges(sandbox, "users/UserHasRights")) == 4  # POST and GET, in 201 and in 202
        fake_time.advance(30)
        await check.execute(invoice("inv-4", "201"))
    assert len(exchanges(sandbox, "system/Divisions")) == 2
    assert len(ledger(sandbox)) == 5


async def test_rights_granted_a_moment_ago_are_found_by_asking_again(sandbox: ExactOnlineSandbox,
                                                                     fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        check = RightsCheck(exact, clock=fake_time)
        await check.execute(invoice("inv-1", "201"))
        control(sandbox, "users/p.jansen", {"divisions": [201, 202, 203]})
        result = await check.execute(invoice("inv-2", "203"))
    assert result.administration == "203"
    assert len(exchanges(sandbox, "system/Divisions")) == 2


async def test_rights_lost_within_the_cache_time_are_caught_as_a_misroute_under_the_2019_bug(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    # The realistic way past the check: Petra could open 203 when the cache was filled, an administrator took
    # that away seconds later, and Exact, instead of refusing, books into the division she last opened.
    control(sandbox, "users/p.jansen", {"divisions": [201, 202, 203]})
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        check = RightsCheck(exact, clock=fake_time)
        await check.execute(invoice("inv-1", "203"))
        control(sandbox, "users/p.jansen", {"divisions": [201, 202]})
        control(sandbox, "faults", {"misroute_bug": True})
        fake_time.advance(20)
        with pytest.raises(Misroute) as misroute:
            await check.execute(invoice("inv-2", "203"))
        fake_time.advance(60)
        with pytest.raises(NoAccess):
            await check.execute(invoice("inv-3", "203"))
    misrouted = next(entry for entry in ledger(sandbox) if entry["your_ref"] == "inv-2")
    assert (misroute.value.asked, misroute.value.booked) == ("203", "201")
    assert misroute.value.entry_number == str(misrouted["entry_number"])
    assert misroute.value.entry_id == misrouted["entry_id"]
    assert (misrouted["asked_division"], misrouted["division"]) == (203, 201)
    assert [entry["your_ref"] for entry in ledger(sandbox)] == ["inv-1", "inv-2"]


async def test_rights_lost_within_the_cache_time_are_refused_by_an_exact_without_the_bug(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    control(sandbox, "users/p.jansen", {"divisions": [201, 202, 203]})
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        check = RightsCheck(exact, clock=fake_time)
        await check.execute(invoice("inv-1", "203"))
        control(sandbox, "users/p.jansen", {"divisions": [201, 202]})
        with pytest.raises(NoAccess) as refused:
            await check.execute(invoice("inv-2", "203"))
    assert refused.value.remote_reason == "NoDivisionAccess"
    assert [entry["your_ref"] for entry in ledger(sandbox)] == ["inv-1"]
    [error] = control(sandbox, "traffic")["errors"]
    assert (error["division"], error["endpoint"], error["last_hour"]) == (203, "purchaseentry/PurchaseEntries", 1)


async def test_a_misrouted_earlier_attempt_is_reported_when_it_is_looked_up(sandbox: ExactOnlineSandbox,
                                                                            fake_time: FakeTime) -> None:
    control(sandbox, "faults", {"misroute_bug": True})
    action = invoice("inv-1", "202")
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        unchecked = await exact.execute(invoice("inv-1", "203"))  # as it went before the check existed
        lost = await exact.find_result(invoice("inv-1", "201"))
        assert lost is not None and lost.administration == "201"

        class AnsweringFromElsewhere:
            """The earlier attempt, asked for 202, turns up in 201 (what the 2019 bug left behind)."""

            def __getattr__(self, name: str):
                return getattr(exact, name)

            async def find_result(self, asked):
                return lost

        with pytest.raises(Misroute) as misroute:
            await RightsCheck(AnsweringFromElsewhere(), clock=fake_time).find_result(action)
    assert unchecked.administration == "201"
    assert (misroute.value.asked, misroute.value.booked, misroute.value.entry_number) == (
        "202", "201", unchecked.entry_number)


async def test_a_look_up_for_an_administration_the_user_cannot_open_never_reaches_exact(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    """Such a call would count towards the "more than 10 errors an hour" block that stalls every division."""
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        with pytest.raises(NoAccess):
            await RightsCheck(exact, clock=fake_time).find_result(invoice("inv-1", "203"))
    assert [x for x in exchanges(sandbox) if x["division"] == 203] == []
