"""Twinfield's credits are the organisation's, whichever process spends them: two processes of the service take
them from one count in the database, so together they never spend more of a minute than Twinfield allows.

"Two processes" are two sets of links over two stores of one SQLite file, as `statuspage serve` and `statuspage
probe run` have (as tests/test_shared_connection.py does for tokens); sandbox and both share one fake clock."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from conftest import TEST_CONFIG
from twinfield_helpers import (  # noqa: F401 (fixtures)
    JANSEN_ENVIRONMENT,
    FakeTime,
    anyio_backend_fixture,
    authorization_code,
    control,
    fake_time_fixture,
    invoice,
    writes,
)

from integrations.twinfield.sandbox import SANDBOX_CLIENT_SECRET, Faults, TwinfieldSandbox, demo_scenario
from statuspage.actions.connections import Links, SqliteSpentStore
from statuspage.config import load_settings
from statuspage.core.installed import INSTALLED
from statuspage.core.storage import Store

pytestmark = pytest.mark.anyio

CREDITS = 30
"""A minute: 10 bookings at 3 credits, or fewer beside the rights checks (1 credit each)."""


@pytest.fixture
def sandbox(fake_time: FakeTime):
    with TwinfieldSandbox(demo_scenario(), clock=fake_time, seed=9, faults=Faults(credits_per_minute=CREDITS)) as running:
        yield running


@pytest.fixture
async def stores(tmp_path) -> AsyncIterator[tuple[Store, Store]]:
    path = tmp_path / "shared.db"
    first, second = Store(path), Store(path)
    first.open()
    second.open()
    yield first, second
    first.close()
    second.close()


@pytest.fixture
async def processes(tmp_path, sandbox: TwinfieldSandbox, fake_time: FakeTime, stores: tuple[Store, Store],
                    monkeypatch) -> AsyncIterator[tuple[Links, Links]]:
    """Two processes' links to Twinfield (the sandbox), sharing one database file and one fake time."""
    monkeypatch.setenv("STATUSPAGE_TWINFIELD_CLIENT_SECRET", SANDBOX_CLIENT_SECRET)
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + JANSEN_ENVIRONMENT + f'[integrations.twinfield]\nbase_url = "{sandbox.url}"\n'
                                                       f"credits_per_minute = {CREDITS}\n")
    settings = load_settings(path, environ={"STATUSPAGE_DB": str(stores[0].path)})
    linked = [Links(INSTALLED, settings, store, fake_time, {"twinfield": sandbox.url}, fake_time.sleep)
              for store in stores]
    yield linked[0], linked[1]
    for links in linked:
        await links.aclose()


async def book(links: Links, key: str, office: str = "NLA201") -> str:
    checked = await links["twinfield"].checked("jansen-twinfield")
    return (await checked.execute(invoice(key, office))).administration


async def test_two_processes_together_spend_no_more_of_a_minute_than_the_organisations_credits(
    processes, sandbox: TwinfieldSandbox, fake_time: FakeTime
) -> None:
    serve, cli = processes
    link = serve["twinfield"]
    await link.connect("jansen-twinfield", authorization_code(sandbox, "PJANSEN", redirect_uri=link.redirect_uri),
                       "test")
    fake_time.now = fake_time.now.replace(second=0) + timedelta(minutes=1)  # a fresh minute, 09:31
    started = fake_time()
    # Each process checks rights once (1 credit) and books: the first takes 16 of the 30 credits with five
    # bookings. The second finds 14 left, four bookings' worth; its rights check costs the call budget a call at
    # the write price (it counts calls, not credits), so three go at once and the rest wait for 09:32.
    for n in range(5):
        assert await book(serve, f"serve-{n}") == "NLA201"
    for n in range(5):
        assert await book(cli, f"cli-{n}", "NLA202") == "NLA202"

    assert "429" not in control(sandbox, "traffic")["statuses"]  # Twinfield never had to refuse either process
    booked = writes(sandbox)
    credits: Counter[int] = Counter()
    bookings: Counter[int] = Counter()
    for x in control(sandbox, "traffic")["exchanges"]:
        if x["service"] in ("ProcessXml", "Finder") and (at := datetime.fromisoformat(x["at"])) >= started:
            minute = (at - started) // timedelta(minutes=1)
            credits[minute] += 3 if x in booked else 1
            bookings[minute] += x in booked
    # Each minute within the 30: 8 bookings and both processes' rights checks; then 2 and one check (its cache lapsed).
    assert (bookings, credits) == ({0: 8, 1: 2}, {0: 26, 1: 7})
    assert fake_time.slept == [60.0]  # the second process waited out the minute its neighbour had half spent
    assert sorted(t["invoice_number"] for t in control(sandbox, "ledger")["transactions"]) == sorted(
        [f"serve-{n}" for n in range(5)] + [f"cli-{n}" for n in range(5)])


async def test_spent_credits_are_one_count_for_every_store_of_the_database(stores: tuple[Store, Store]) -> None:
    first, second = (SqliteSpentStore(store) for store in stores)
    minute = datetime.fromisoformat("2026-11-23T09:31:00+00:00")
    assert await first.spend("twinfield", "JANSEN", minute, 27, 30)
    assert not await second.spend("twinfield", "JANSEN", minute, 4, 30)  # 31 would be over the limit
    assert await second.spend("twinfield", "JANSEN", minute, 3, 30)
    assert not await first.spend("twinfield", "JANSEN", minute, 1, 30)
    await first.refund("twinfield", "JANSEN", minute, 3)  # a call Twinfield refused with 429 cost nothing
    assert await second.spent("twinfield", "JANSEN", minute) == 27
    # Another minute, organisation or integration is a count of its own.
    later = minute + timedelta(minutes=1)
    assert [await first.spent(*key) for key in (("twinfield", "JANSEN", later), ("twinfield", "DEVRIES", minute),
                                                 ("exact-online", "JANSEN", minute))] == [0, 0, 0]
    assert await second.spend("twinfield", "JANSEN", later, 30, 30)
