"""Connection state every process sees: tokens read from the database before each call, one refresh at a time
across processes with a compare-and-set on the refresh token, a reconnect noticed before the next call; tokens
refreshed before their own `expires_in`; a slow booking looked up only after the commit window.

"Two processes" here are two sets of links over two stores of one SQLite file, as `statuspage serve` and
`statuspage probe run` have; tests/test_two_processes.py runs real ones."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from conftest import TEST_CONFIG
from exact_online_helpers import (  # noqa: F401 (fixtures)
    FakeTime,
    anyio_backend_fixture,
    authorization_code,
    connected,
    control,
    exchanges,
    fake_time_fixture,
    invoice,
    ledger,
    oauth_app,
    refreshes,
    sandbox_fixture,
)
from exact_online_service_helpers import sandbox_code

from integrations.base import TransientError, utc_now
from integrations.exact_online import ExactOnlineConnector, InMemoryTokenStore, RetryPolicy
from integrations.exact_online.connector import PURCHASE_ENTRIES
from integrations.exact_online.sandbox import ExactOnlineSandbox, Faults, demo_scenario
from statuspage.actions.connections import Links
from statuspage.config import load_settings
from statuspage.core.installed import INSTALLED
from statuspage.core.storage import Store

pytestmark = pytest.mark.anyio

ENVIRONMENTS = """
[[environments]]
key = "jansen-groep"
name = "Jansen Groep"
administrations = [{ code = "201", name = "Jansen Installatietechniek B.V." },
                   { code = "202", name = "Jansen Holding B.V." }, { code = "203", name = "Jansen Verhuur B.V." }]
"""


@pytest.fixture
async def processes(tmp_path, sandbox: ExactOnlineSandbox, fake_time: FakeTime,
                    monkeypatch) -> AsyncIterator[tuple[Links, Links]]:
    """Two processes' links to Exact Online (the sandbox), sharing one database file and one fake time."""
    monkeypatch.setenv("STATUSPAGE_EXACT_CLIENT_SECRET", "sandbox-secret")
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + ENVIRONMENTS)
    settings = load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "shared.db"),
                                            "STATUSPAGE_EXACT_BASE_URL": sandbox.url,
                                            "STATUSPAGE_EXACT_CLIENT_ID": "sandbox-client"})
    stores = [Store(settings.database.path), Store(settings.database.path)]
    linked = []
    for store in stores:
        store.open()
        linked.append(Links(INSTALLED, settings, store, fake_time, {"exact-online": sandbox.url}, fake_time.sleep))
    yield linked[0], linked[1]
    for links, store in zip(linked, stores, strict=True):
        await links.aclose()
        store.close()


async def connect(links: Links, sandbox: ExactOnlineSandbox, username: str) -> None:
    link = links["exact-online"]
    await link.connect("jansen-groep", sandbox_code(sandbox, link.redirect_uri, username), "test")


async def book(links: Links, key: str, administration: str):
    checked = await links["exact-online"].checked("jansen-groep")
    return await checked.execute(invoice(key, administration))


def token_refusals(sandbox: ExactOnlineSandbox) -> list[dict]:
    return [x for x in exchanges(sandbox, "oauth2/token") if x["status"] != 200]


async def test_two_processes_due_at_once_refresh_once_and_both_carry_on(processes, sandbox, fake_time) -> None:
    serve, cli = processes
    await connect(serve, sandbox, "p.jansen")
    await book(cli, "inv-0", "201")
    for round_ in range(1, 4):
        fake_time.advance(580)  # due for both, by Exact's 570-second rule
        results = await asyncio.gather(book(serve, f"inv-{round_}a", "201"), book(cli, f"inv-{round_}b", "202"))
        assert {r.administration for r in results} == {"201", "202"}
    assert refreshes(sandbox) == 3  # one per round, never one per process
    assert token_refusals(sandbox) == []  # so no refresh token was ever sent twice
    assert len(ledger(sandbox)) == 7


async def test_a_refresh_token_another_process_rotated_is_reloaded_not_lost(processes, sandbox, fake_time) -> None:
    """Without the claim's protection (a process that read its pair just before another rotated it): Exact
    refuses the spent refresh token, the pair the other process stored is read, and the call goes on."""
    serve, cli = processes
    await connect(serve, sandbox, "p.jansen")
    keeper = (await cli["exact-online"].connector("jansen-groep"))._keeper  # noqa: SLF001
    stale = await keeper._current()  # noqa: SLF001
    fake_time.advance(580)
    await book(serve, "inv-1", "201")  # serve rotates
    carried_on = await keeper._refresh_claimed(stale)  # noqa: SLF001
    assert carried_on == await keeper._current() and carried_on.refresh_token != stale.refresh_token  # noqa: SLF001
    assert [x["status"] for x in token_refusals(sandbox)] == [400]  # the one stale attempt, refused
    await book(cli, "inv-2", "202")
    assert len(ledger(sandbox)) == 2


async def test_a_reconnect_under_another_user_is_honoured_by_the_other_processs_next_booking(
    processes, sandbox, fake_time
) -> None:
    serve, cli = processes
    await connect(serve, sandbox, "p.jansen")
    await book(cli, "inv-1", "201")  # cli now believes the user can open 201 and 202, not 203
    await connect(serve, sandbox, "a.bakker")  # the repair of 2019, made in the other process
    result = await book(cli, "inv-2", "203")
    assert result.administration == "203"
    posts = [x for x in exchanges(sandbox, PURCHASE_ENTRIES) if x["method"] == "POST"]
    assert [(x["division"], x["user"]) for x in posts] == [(201, "p.jansen"), (203, "a.bakker")]


async def test_a_token_shorter_lived_than_570_seconds_is_refreshed_before_it_expires(sandbox, fake_time) -> None:
    control(sandbox, "faults", {"access_token_seconds": 120})
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        for _ in range(40):  # twenty minutes, a call every 30 s
            fake_time.advance(30)
            assert await exact.has_right("201", PURCHASE_ENTRIES, "POST")
    assert "401" not in control(sandbox, "traffic")["statuses"]
    assert refreshes(sandbox) >= 12  # every 90 s (30 s before each 120 s token ends), not every 570 s
    assert token_refusals(sandbox) == []


async def test_a_booking_slower_than_the_read_timeout_is_booked_once() -> None:
    """The sandbox holds each POST, unbooked and unanswered, until the test lets it through; the client gives up
    waiting for an answer after 0.3 s. When the commit window passes, the held booking lands (the connector's sleep
    is the test's clock): looked up after the window, the booking is found; looked up at once, it is sent again."""
    with ExactOnlineSandbox(demo_scenario(), seed=5, faults=Faults(minutely_limit=1000)) as sandbox:
        booked = {}
        for commit_window in (30.0, 0.0):
            key = f"slow-{commit_window}"

            async def sleep(seconds: float, key: str = key, window: float = commit_window) -> None:
                if window and seconds == window:  # the window passes, and in it the slow booking lands
                    await land_held_bookings(sandbox, key, count=1)

            store = InMemoryTokenStore()
            exact = ExactOnlineConnector(oauth_app(sandbox), store, timeout=0.3, clock=utc_now, sleep=sleep,
                                         rng=random.Random(1), retry=RetryPolicy(attempts=2, base_delay=0.01),
                                         commit_window=commit_window)
            async with exact:
                await exact.connect(authorization_code(sandbox, "p.jansen", state=f"w{commit_window}"))
                control(sandbox, "faults", {"hold_bookings": True})
                if commit_window:
                    assert (await exact.execute(invoice(key, "201"))).reference == key
                else:
                    with pytest.raises(TransientError):  # each try times out, each look-up comes too early
                        await exact.execute(invoice(key, "201"))
                    await land_held_bookings(sandbox, key, count=2)
                booked[commit_window] = [e for e in ledger(sandbox) if e["your_ref"] == key]
    assert len(booked[30.0]) == 1
    assert len(booked[0.0]) == 2  # what the window prevents


async def land_held_bookings(sandbox: ExactOnlineSandbox, key: str, *, count: int) -> None:
    """Let the POSTs the sandbox holds through, and wait until `count` bookings with `key` are in its ledger."""
    control(sandbox, "faults", {"hold_bookings": False})
    for _ in range(1000):
        if len([e for e in ledger(sandbox) if e["your_ref"] == key]) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} bookings with YourRef {key} never landed")
