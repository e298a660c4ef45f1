"""A replay into Twinfield keeps the pace its credits allow, minute after minute, on a fake clock.

The service's own dispatcher, links and call budget over a real SQLite file replay a backlog held by the switch into
two offices of one organisation of the Twinfield sandbox; sandbox and service share one fake clock, whose sleeps
move it. Twinfield counts credits per organisation per clock minute (here 60: writes 3, reads 1), so each minute
holds the minute's rights check (Finder `OFF`, 1 credit) and 19 bookings (57); the 20th waits for the next minute.
And an action that waited for the limits is not treated as one that failed: no longer backoff, no earlier give-up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
import pytest
from conftest import TEST_CONFIG
from twinfield_helpers import (  # noqa: F401 (fixtures)
    JANSEN_ENVIRONMENT,
    FakeTime,
    anyio_backend_fixture,
    authorization_code,
    control,
    exchanges,
)

from integrations.twinfield.sandbox import SANDBOX_CLIENT_SECRET, Faults, TwinfieldSandbox, demo_scenario
from statuspage.actions import outbox, switches
from statuspage.actions.connections import Links
from statuspage.actions.dispatcher import Dispatcher
from statuspage.config import load_settings
from statuspage.core import storage
from statuspage.core.installed import INSTALLED
from statuspage.core.operation import Actor
from statuspage.core.settings import Settings
from statuspage.page.snapshot import component_definitions

pytestmark = pytest.mark.anyio

CREDITS = 60
BOOKINGS_A_MINUTE = 19
"""(60 - 1 for the rights check) // 3."""
BACKLOG = 60
OPERATOR = Actor("test")


class BoundedTime(FakeTime):
    """Fake time that refuses to sleep past `deadline`, so a replay that stops making progress ends the test (as
    a failure) instead of sleeping on for ever."""

    deadline = FakeTime().now + timedelta(minutes=15)

    async def sleep(self, seconds: float) -> None:
        if self.now + timedelta(seconds=seconds) > self.deadline:
            raise AssertionError(f"still sleeping at {self.now:%H:%M:%S}: the replay stopped making progress")
        await super().sleep(seconds)


@dataclass
class Service:
    settings: Settings
    store: storage.Store
    links: Links
    dispatcher: Dispatcher


@pytest.fixture
def time() -> BoundedTime:
    return BoundedTime()


@pytest.fixture
def sandbox(time: BoundedTime):
    with TwinfieldSandbox(demo_scenario(), clock=time, seed=5, faults=Faults(credits_per_minute=CREDITS)) as running:
        yield running


@pytest.fixture
def twinfield_options() -> dict[str, object]:
    return {}


@pytest.fixture
async def service(tmp_path, sandbox: TwinfieldSandbox, time: BoundedTime, monkeypatch,
                  twinfield_options: dict[str, object]) -> AsyncIterator[Service]:
    monkeypatch.setenv("STATUSPAGE_TWINFIELD_CLIENT_SECRET", SANDBOX_CLIENT_SECRET)
    options = {"base_url": sandbox.url, "credits_per_minute": CREDITS, **twinfield_options}
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + JANSEN_ENVIRONMENT + "[integrations.twinfield]\n"
                    + "".join(f"{key} = {value!r}\n".replace("'", '"') for key, value in options.items()))
    settings = load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "replay.db")})
    store = storage.Store(settings.database.path)
    store.open()
    links = Links(INSTALLED, settings, store, time, {"twinfield": sandbox.url}, time.sleep)
    yield Service(settings, store, links, Dispatcher(store, settings, time, links))
    await links.aclose()
    store.close()


def request(n: int) -> outbox.ActionRequest:
    return msgspec.convert({
        "idempotency_key": f"PACE-{n:03d}", "integration": "twinfield", "environment": "jansen-twinfield",
        "administration": ("NLA201", "NLA202")[n % 2], "kind": "book",
        "payload": {"journal": "INK", "supplier": "2003", "entry_date": "2026-11-20", "description": f"Invoice {n}",
                    "lines": [{"gl_account": "7000", "amount": 121.0, "vat_code": "IH"}]},
    }, outbox.ActionRequest)


async def connect(service: Service, sandbox: TwinfieldSandbox) -> None:
    link = service.links["twinfield"]
    await link.connect("jansen-twinfield", authorization_code(sandbox, "PJANSEN", redirect_uri=link.redirect_uri),
                       "test")


async def test_a_replay_keeps_booking_at_the_credit_limits_pace_after_the_first_minute_is_spent(
    service: Service, sandbox: TwinfieldSandbox, time: BoundedTime
) -> None:
    await connect(service, sandbox)
    settings = service.settings

    def held_backlog(db) -> None:
        storage.sync_components(db, component_definitions(settings), time())
        switches.switch(db, settings, OPERATOR, time(), integration="twinfield", environment=None, enabled=False,
                        reason="a backlog to replay")
        for n in range(BACKLOG):
            outbox.accept(db, settings, "client", time(), request(n))

    await service.store.write(held_backlog)
    time.now = time.now.replace(second=0) + timedelta(minutes=1)  # the replay starts on a minute's boundary
    started = time()
    await service.store.write(lambda db: switches.switch(db, settings, OPERATOR, time(), integration="twinfield",
                                                         environment=None, enabled=True, reason="replay"))
    await service.dispatcher.settle()

    replayed = [x for x in exchanges(sandbox) if x["service"] in ("ProcessXml", "Finder") and x["at"] >= started.isoformat()]
    per_minute: Counter[tuple[int, str]] = Counter()
    for x in replayed:
        minute = int((datetime.fromisoformat(x["at"]) - started).total_seconds() // 60)
        per_minute[minute, x["operation"]] += 1
    # Every minute after the first, too, spends what the credits allow (58 of 60): one rights check, 19 bookings.
    assert [(per_minute[m, "OFF"], per_minute[m, "transaction"]) for m in range(4)] == [
        (1, BOOKINGS_A_MINUTE)] * 3 + [(1, BACKLOG - 3 * BOOKINGS_A_MINUTE)]
    assert sum(per_minute.values()) == len(replayed)  # nothing else was called (no look-ups)
    assert "429" not in control(sandbox, "traffic")["statuses"]  # and no 429 of our own making

    # Waiting for the budget is waiting for the next minute, inside the action's one try: each wait ends on the
    # minute's boundary (no polling, no retry backoff), and every action is done at its first attempt.
    assert time.slept == [60.0, 60.0, 60.0]
    def tries(db) -> list[tuple[int, datetime | None, list[str]]]:
        return [(row.attempts, row.not_before, [t.to_state for t in storage.transitions_of(db, row.id)])
                for row in storage.actions_page(db, filters={}, after_id=0, limit=BACKLOG + 1)]

    assert await service.store.read(tries) == [(1, None, ["delayed", "queued", "running", "done"])] * BACKLOG


@pytest.mark.parametrize("twinfield_options", [{"max_retry_after": 0.5}])  # any Retry-After reschedules the action
@pytest.mark.parametrize("waits", [3, 8])
async def test_tries_that_waited_for_the_rate_limit_neither_lengthen_the_backoff_nor_give_the_action_up(
    service: Service, sandbox: TwinfieldSandbox, time: BoundedTime, waits: int
) -> None:
    """An action rescheduled `waits` times for Twinfield's credits (each try handed back as `RateLimited`, to be
    tried at the `Retry-After`), then failing for a server error, is retried after the first backoff (15 s) like
    any action failing once; 8 such waits do not make it one of the 8 tries after which an operator must look."""
    await connect(service, sandbox)
    await service.store.write(lambda db: outbox.accept(db, service.settings, "client", time(), request(0)))
    control(sandbox, "faults", {"credits_per_minute": 0})  # every call: 429, Retry-After until the next minute
    for _ in range(waits):
        await service.dispatcher.settle()
        row = await service.store.read(storage.action, 1)
        assert row.state == "queued"
        assert row.not_before == time.now.replace(second=0) + timedelta(minutes=1)
        time.now = row.not_before
    control(sandbox, "faults", {"credits_per_minute": 600, "fail_next": 50, "fail_status": 503})
    await service.dispatcher.settle()

    row = await service.store.read(storage.action, 1)
    assert (row.state, row.attempts) == ("queued", waits + 1)
    assert "503" in row.error
    assert row.not_before - time() == timedelta(seconds=15)
    causes = [t.cause for t in await service.store.read(storage.transitions_of, 1) if t.from_state == "running"]
    assert causes == ["waiting for the rate limit"] * waits + ["will be tried again"]
