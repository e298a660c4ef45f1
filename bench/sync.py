"""Benchmarks of the master-data sync (issue 13; run by hand, not a test).

1. Reconciliation of a full read of 100,000 keyed records against the mirror, with 1 % changed, 0.5 %
   inserted and 0.5 % deleted (target under 1 s; seed 001 reports ~17 s for ~5,000 relations), and the swap of
   that outcome into SQLite in one transaction.
2. A first full sync of 100,000 accounts against the sandbox at 60 calls a minute and 5,000 a day: the calls
   used against the pages needed (target: equal) and the share of the day's budget; 429s (target: none). The
   sandbox and the engine share a clock that moves when someone sleeps, so the pacing is real but quick.
3. Booking latency, handed in to done, p50 and p95, with and without a full sync running on the same
   administration, in real time against the sandbox at 60 calls a minute with `--latency-ms` per call
   (target: p95 within one second of the idle figure), and 429s (target: none).

    .venv/bin/python bench/sync.py
    .venv/bin/python bench/sync.py --records 100000 --accounts 100000 --bookings 20 --latency-ms 150
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from integrations.call_budget import CallBudget  # noqa: E402
from integrations.exact_online import ExactOnlineConnector, InMemoryTokenStore, OAuthApp, RateLimits  # noqa: E402
from integrations.exact_online.sandbox import (  # noqa: E402
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    ExactOnlineSandbox,
    Faults,
    demo_scenario,
)
from integrations.exact_online.sync import ENTITIES, ExactOnlineMasterData  # noqa: E402
from statuspage.actions import outbox  # noqa: E402
from statuspage.actions.connections import Links  # noqa: E402
from statuspage.actions.dispatcher import Dispatcher  # noqa: E402
from statuspage.app import make_sync_engine  # noqa: E402
from statuspage.config import load_settings  # noqa: E402
from statuspage.core import storage  # noqa: E402
from statuspage.core.clock import system_clock  # noqa: E402
from statuspage.core.installed import INSTALLED  # noqa: E402
from statuspage.core.storage import MirrorRecord, Store  # noqa: E402
from statuspage.core.vocabulary import SyncKind, SyncTrigger  # noqa: E402
from statuspage.sync.budget import CallBudgetShare  # noqa: E402
from statuspage.sync.engine import SyncEngine  # noqa: E402
from statuspage.sync.reconcile import reconcile  # noqa: E402

CONFIG = """
[demo]
enabled = false
[sync]
enabled = false
[[components]]
key = "exact-online"
name = "Exact Online"
[[environments]]
key = "jansen-groep"
name = "Jansen Groep"
administrations = [{ code = "201", name = "Jansen Installatietechniek B.V." }]
"""
REDIRECT = "https://status.example.test/console/connections/exact-online/callback"


def settings_for(folder: Path, base_url: str):
    config = folder / "bench.toml"
    config.write_text(CONFIG)
    os.environ["STATUSPAGE_EXACT_CLIENT_SECRET"] = SANDBOX_CLIENT_SECRET
    return load_settings(config, environ={"STATUSPAGE_DB": str(folder / "bench.db"),
                                          "STATUSPAGE_EXACT_BASE_URL": base_url,
                                          "STATUSPAGE_EXACT_CLIENT_ID": SANDBOX_CLIENT_ID})


def digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


# ---------------------------------------------------------------------------------------------
# 1. Reconciliation


def bench_reconcile(records: int) -> dict[str, float]:
    rng = random.Random(13)
    mirror: dict[str, str | None] = {f"key-{i:07d}": digest(f"row {i}") for i in range(records)}
    keys = list(mirror)
    changed = set(rng.sample(keys, records // 100))
    deleted = set(rng.sample([k for k in keys if k not in changed], records // 200))
    staging = {key: (digest(f"{key} changed") if key in changed else value)
               for key, value in mirror.items() if key not in deleted and value is not None}
    staging |= {f"new-{i:07d}": digest(f"new {i}") for i in range(records // 200)}
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        outcome = reconcile(staging, mirror)
        timings.append(time.perf_counter() - started)
    assert (len(outcome.changes), len(outcome.inserts), len(outcome.deletes)) == (
        len(changed), records // 200, len(deleted))
    best = min(timings)
    print(f"1. reconcile {records:,} staged against {records:,} mirrored: {len(outcome.inserts):,} inserts, "
          f"{len(outcome.changes):,} changes, {len(outcome.deletes):,} deletes in {best * 1000:.0f} ms "
          f"(best of 5; median {statistics.median(timings) * 1000:.0f} ms)")

    with tempfile.TemporaryDirectory() as folder:
        db = storage.open_database(Path(folder) / "mirror.db")
        now = datetime.now(UTC)
        where = ("bench", "201", "accounts")
        with storage.write_transaction(db):
            storage.write_rows(db, *where, [MirrorRecord(k, v or "", "{}") for k, v in mirror.items()], now)
        started = time.perf_counter()
        with storage.write_transaction(db):
            known = storage.mirror_hashes(db, *where)
            outcome = reconcile(staging, known)
            storage.write_rows(db, *where, [MirrorRecord(k, staging[k], "{}")
                                            for k in (*outcome.inserts, *outcome.changes)], now)
            storage.tombstone_rows(db, *where, outcome.deletes, now)
            storage.touch_live_rows(db, *where, now)
        swap = time.perf_counter() - started
        db.close()
    print(f"   read the mirror's hashes, reconcile and swap into SQLite in one transaction: {swap * 1000:.0f} ms")
    return {"reconcile_ms": best * 1000, "swap_ms": swap * 1000}


# ---------------------------------------------------------------------------------------------
# 2. First full sync at 60 calls a minute


class MovingTime:
    """One clock for sandbox and engine that moves only when someone sleeps: pacing without the wait."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # office hours: no nightly run starts

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


async def connect(sandbox_url: str, connector: ExactOnlineConnector, username: str, redirect: str) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{sandbox_url}/api/oauth2/auth", data={
            "client_id": SANDBOX_CLIENT_ID, "redirect_uri": redirect, "state": "b", "username": username})
    await connector.connect(parse_qs(urlsplit(answer.headers["location"]).query)["code"][0])


async def bench_first_full_sync(accounts: int) -> dict[str, float]:
    clock = MovingTime()
    with ExactOnlineSandbox(demo_scenario(), clock=clock, seed=3, faults=Faults(minutely_limit=60, daily_limit=5000)
                            ) as sandbox, tempfile.TemporaryDirectory() as folder:
        generating = time.perf_counter()
        httpx.post(f"{sandbox.url}/_sandbox/data/201", json={"accounts": accounts}, timeout=60)
        httpx.get(f"{sandbox.url}/_sandbox/data/201", timeout=60)  # rows are made when first read
        generated_s = time.perf_counter() - generating
        settings = settings_for(Path(folder), sandbox.url)
        store = Store(settings.database.path)
        store.open()
        call_budget = CallBudget(clock=clock, sleep=clock.sleep, reserve_fraction=settings.budgets.daily_reserve)
        limits = RateLimits(clock=clock, sleep=clock.sleep, budget=call_budget)
        exact = ExactOnlineConnector(OAuthApp(client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET,
                                              redirect_uri=REDIRECT, base_url=sandbox.url),
                                     InMemoryTokenStore(), clock=clock, sleep=clock.sleep, rate_limits=limits)
        await connect(sandbox.url, exact, "p.jansen", REDIRECT)

        async def readers(environment: str):  # noqa: ANN202
            return ExactOnlineMasterData(exact.master_data())

        engine = SyncEngine(store, settings, clock, readers, CallBudgetShare(call_budget, clock), sleep=clock.sleep)
        task_id, _ = await engine.request("jansen-groep", "201", SyncKind.FULL, SyncTrigger.MANUAL, None, "bench")
        started_wall, started = time.perf_counter(), clock()
        await engine.settle()
        wall, simulated = time.perf_counter() - started_wall, (clock() - started).total_seconds()
        runs = await store.read(storage.sync_runs_of, task_id)
        live, _ = await store.read(storage.mirror_counts, "jansen-groep", "201", "accounts")
        sizes = httpx.get(f"{sandbox.url}/_sandbox/data/201").json()["rows"]
        exchanges = httpx.get(f"{sandbox.url}/_sandbox/traffic").json()["exchanges"]
        await exact.aclose()
        store.close()
    calls = [x for x in exchanges if x["division"] == 201]
    needed = sum(-(-sizes[name] // 1000) or 1 for name in ENTITIES)
    statuses = Counter(x["status"] for x in calls)
    used = sum(run["pages"] for run in runs)
    print(f"2. first full sync of {accounts:,} accounts (+ the demo's other entities) at 60 calls/min, 5,000/day: "
          f"{live:,} accounts mirrored; {len(calls)} calls to the division ({used} counted by the runs) for "
          f"{needed} pages needed; {len(calls) / 5000:.1%} of the day's budget; "
          f"{simulated / 60:.1f} minutes of Exact's time ({wall:.1f} s here); 429s: {statuses.get(429, 0)}; "
          f"the sandbox generated the accounts in {generated_s:.2f} s (target under 2 s)")
    return {"calls": len(calls), "pages_needed": needed, "budget_share": len(calls) / 5000, "generated_s": generated_s,
            "simulated_minutes": simulated / 60, "wall_s": wall, "429": statuses.get(429, 0)}


# ---------------------------------------------------------------------------------------------
# 3. Booking latency with and without a full sync


def action_request(n: int) -> outbox.ActionRequest:
    return msgspec.convert({
        "idempotency_key": f"SYNC-BENCH-{n:05d}", "integration": "exact-online", "environment": "jansen-groep",
        "administration": "201", "kind": "book",
        "payload": {"journal": "60", "supplier": "S001", "entry_date": "2026-11-20", "description": f"Invoice {n}",
                    "lines": [{"gl_account": "4000", "amount": 121.0, "vat_code": "2"}]},
    }, outbox.ActionRequest)


async def bookings_latency(bookings: int, spacing: float, latency_ms: int, sync_accounts: int | None,
                           offset: int) -> tuple[list[float], Counter, int]:
    with ExactOnlineSandbox(demo_scenario(), seed=5,
                            faults=Faults(minutely_limit=60, daily_limit=5000, latency_ms=latency_ms)) as sandbox, \
            tempfile.TemporaryDirectory() as folder:
        if sync_accounts:
            httpx.post(f"{sandbox.url}/_sandbox/data/201", json={"accounts": sync_accounts})
        settings = settings_for(Path(folder), sandbox.url)
        store = Store(settings.database.path)
        store.open()
        async with httpx.AsyncClient() as http:
            links = Links(INSTALLED, settings, store, system_clock, {"exact-online": sandbox.url})
            link = links["exact-online"]
            answer = await http.post(f"{sandbox.url}/api/oauth2/auth", data={
                "client_id": SANDBOX_CLIENT_ID, "redirect_uri": link.redirect_uri, "state": "b",
                "username": "p.jansen"})
            await link.connect("jansen-groep", parse_qs(urlsplit(answer.headers["location"]).query)["code"][0], "b")
            dispatcher = Dispatcher(store, settings, system_clock, links)
            engine = make_sync_engine(settings, store, system_clock, links)
            tasks = [asyncio.create_task(dispatcher.run_forever())]
            pages_before = 0
            if sync_accounts:
                await engine.request("jansen-groep", "201", SyncKind.FULL, SyncTrigger.MANUAL, ["accounts"], "bench")
                tasks.append(asyncio.create_task(engine.run_forever()))
                await asyncio.sleep(3)  # the sync is under way before the first booking
            ids = []
            for n in range(bookings):
                ids.append(await store.write(lambda db, n=n: outbox.accept(
                    db, settings, "bench", system_clock(), action_request(offset + n))[0]))
                dispatcher.wake()
                await asyncio.sleep(spacing)
            await dispatcher.settle()
            if sync_accounts:
                pages_before = len([x for x in (await http.get(f"{sandbox.url}/_sandbox/traffic")).json()["exchanges"]
                                    if x["endpoint"] == "sync/CRM/Accounts"])
            for task in tasks:
                task.cancel()
            rows = [await store.read(storage.action, action_id) for action_id in ids]
            traffic = (await http.get(f"{sandbox.url}/_sandbox/traffic")).json()
            await links.aclose()
        store.close()
    latencies = [(row.updated_at - row.created_at).total_seconds() for row in rows if row and row.state == "done"]
    assert len(latencies) == bookings, [row.state for row in rows if row]
    return latencies, Counter(x["status"] for x in traffic["exchanges"]), pages_before


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


async def bench_latency(bookings: int, spacing: float, latency_ms: int, accounts: int) -> dict[str, float]:
    idle, idle_statuses, _ = await bookings_latency(bookings, spacing, latency_ms, None, 0)
    busy, busy_statuses, pages = await bookings_latency(bookings, spacing, latency_ms, accounts, 10_000)
    print(f"3. booking latency, handed in to done, {bookings} bookings {spacing:g} s apart, {latency_ms} ms a call, "
          f"60 calls/min:")
    print(f"   idle:                      p50 {statistics.median(idle) * 1000:.0f} ms, p95 {p95(idle) * 1000:.0f} ms, "
          f"max {max(idle) * 1000:.0f} ms; 429s: {idle_statuses.get(429, 0)}")
    print(f"   during a full sync ({accounts:,} accounts; {pages} account pages read in all, on-send refreshes included): "
          f"p50 {statistics.median(busy) * 1000:.0f} ms, p95 {p95(busy) * 1000:.0f} ms, max {max(busy) * 1000:.0f} ms; "
          f"429s: {busy_statuses.get(429, 0)}")
    print(f"   p95 difference: {(p95(busy) - p95(idle)) * 1000:+.0f} ms (target: within 1,000 ms)")
    return {"idle_p95_ms": p95(idle) * 1000, "busy_p95_ms": p95(busy) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--bookings", type=int, default=20)
    parser.add_argument("--spacing", type=float, default=1.5, help="seconds between bookings handed in")
    parser.add_argument("--latency-ms", type=int, default=150, help="the sandbox's time per call")
    parser.add_argument("--sync-accounts", type=int, default=50_000, help="accounts of the sync during part 3")
    parser.add_argument("--skip", default="", help="parts to skip, e.g. 23")
    args = parser.parse_args()
    if "1" not in args.skip:
        bench_reconcile(args.records)
    if "2" not in args.skip:
        asyncio.run(bench_first_full_sync(args.accounts))
    if "3" not in args.skip:
        asyncio.run(bench_latency(args.bookings, args.spacing, args.latency_ms, args.sync_accounts))


if __name__ == "__main__":
    main()
