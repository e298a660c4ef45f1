"""The sync within Exact Online's limits (60 calls a minute, 5,000 a day per app and division), with a clock
that moves only when someone sleeps: the engine against the sandbox over HTTP, no app around it."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import TEST_CONFIG
from exact_online_helpers import (  # noqa: F401 (fixtures)
    FakeTime,
    anyio_backend_fixture,
    connected,
    control,
    exchanges,
    fake_time_fixture,
    sandbox_fixture,
)

from integrations.call_budget import CallBudget
from integrations.exact_online import RateLimits
from integrations.exact_online.sandbox import ExactOnlineSandbox, Faults, demo_scenario
from integrations.exact_online.sync import ExactOnlineMasterData
from statuspage.config import load_settings
from statuspage.core import storage
from statuspage.core.settings import Settings
from statuspage.core.storage import Store
from statuspage.core.vocabulary import SyncKind, SyncTrigger
from statuspage.sync.budget import CallBudgetShare
from statuspage.sync.engine import SyncEngine

pytestmark = pytest.mark.anyio

ENVIRONMENT = """
[[environments]]
key = "jansen-groep"
name = "Jansen Groep"
administrations = [{ code = "201", name = "Jansen Installatietechniek B.V." }]
"""


def settings_in(tmp_path: Path) -> Settings:
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + ENVIRONMENT)
    return load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "sync.db")})


async def engine_for(sandbox: ExactOnlineSandbox, fake_time: FakeTime, tmp_path: Path, *, reserve_fraction: float,
                     page_size: int) -> AsyncIterator[SyncEngine]:
    settings = settings_in(tmp_path)
    store = Store(settings.database.path)
    await asyncio.to_thread(store.open)
    budget = CallBudget(clock=fake_time, sleep=fake_time.sleep, reserve_fraction=reserve_fraction)
    limits = RateLimits(clock=fake_time, sleep=fake_time.sleep, budget=budget)
    exact = await connected(sandbox, fake_time, "p.jansen", rate_limits=limits)

    async def readers(environment: str):  # noqa: ANN202
        return ExactOnlineMasterData(exact.master_data(page_size=page_size))

    try:
        yield SyncEngine(store, settings, fake_time, readers, CallBudgetShare(budget, fake_time), sleep=fake_time.sleep)
    finally:
        await exact.aclose()
        await asyncio.to_thread(store.close)


async def test_a_full_sync_at_60_calls_a_minute_uses_the_pages_it_needs_and_never_meets_a_429(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime, tmp_path: Path
) -> None:
    control(sandbox, "data/201", {"accounts": 2500})
    async for engine in engine_for(sandbox, fake_time, tmp_path, reserve_fraction=0.2, page_size=100):
        task_id, _ = await engine.request("jansen-groep", "201", SyncKind.FULL, SyncTrigger.MANUAL, None, "test")
        await engine.settle()
        runs = await engine.store.read(storage.sync_runs_of, task_id)
    assert {run["state"] for run in runs} == {"done"}
    calls = [x for x in exchanges(sandbox) if x["division"] == 201]
    assert "429" not in {str(x["status"]) for x in calls}
    assert len(calls) == sum(run["pages"] for run in runs) == 25 + 7, "the pages needed, plus nothing"
    per_minute = Counter(x["at"][:16] for x in calls)
    assert max(per_minute.values()) <= 60, "Exact's minutely limit, paced by the call budget"


async def test_sync_never_spends_the_daily_reserve_and_goes_on_after_the_daily_reset(
    fake_time: FakeTime, tmp_path: Path
) -> None:
    with ExactOnlineSandbox(demo_scenario(), clock=fake_time, seed=7,
                            faults=Faults(daily_limit=40, minutely_limit=1000)) as sandbox:
        control(sandbox, "data/201", {"accounts": 2000})
        async for engine in engine_for(sandbox, fake_time, tmp_path, reserve_fraction=0.75, page_size=100):
            task_id, _ = await engine.request("jansen-groep", "201", SyncKind.FULL, SyncTrigger.MANUAL,
                                              ["accounts"], "test")
            await engine.settle()
            [run] = await engine.store.read(storage.sync_runs_of, task_id)
        calls = [x for x in exchanges(sandbox) if x["division"] == 201]
    assert run["state"] == "done" and run["pages"] == 20
    by_day = Counter(x["at"][:10] for x in calls)
    assert by_day["2026-11-23"] <= 40 - 30, "sync stopped at the bookings' reserve (75 % of 40 calls)"
    assert "429" not in {str(x["status"]) for x in calls}
