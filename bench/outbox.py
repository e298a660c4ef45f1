"""Benchmarks of the outbox and the kill switch (run by hand; not a test).

1. Switching off with 100,000 queued actions: how long the one transaction takes that turns them
   all to delayed, the time operators wait after pressing the button on a bad day.
2. Replay throughput against the Exact Online sandbox with a per-minute limit: bookings and API
   calls per minute per division, as a share of what the limit allows (goal: at least 95%), and the
   number of 429 answers (goal: none; our own pacing must never provoke one).

    .venv/bin/python bench/outbox.py                       # 100,000 actions; 2-minute replay at 60 calls/min
    .venv/bin/python bench/outbox.py --actions 20000 --replay-minutes 1 --limit 120
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
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

from integrations.exact_online.sandbox import ExactOnlineSandbox, Faults, demo_scenario  # noqa: E402
from statuspage.actions import (
    outbox,  # noqa: E402
    switches,
)
from statuspage.actions.connections import Links  # noqa: E402
from statuspage.actions.dispatcher import Dispatcher  # noqa: E402
from statuspage.config import load_settings  # noqa: E402
from statuspage.core import storage  # noqa: E402
from statuspage.core.clock import system_clock  # noqa: E402
from statuspage.core.installed import INSTALLED  # noqa: E402
from statuspage.core.operation import Actor  # noqa: E402
from statuspage.page.snapshot import component_definitions  # noqa: E402

CONFIG = """
[demo]
enabled = false
[[components]]
key = "exact-online"
name = "Exact Online"
[[environments]]
key = "bakkerij-de-vries"
name = "Bakkerij De Vries"
administrations = [{ code = "101", name = "Bakkerij De Vries B.V." }, { code = "102", name = "De Vries Vastgoed B.V." }]
"""
OPERATOR = Actor("bench")


def request(n: int) -> outbox.ActionRequest:
    return msgspec.convert({
        "idempotency_key": f"BENCH-{n:07d}", "integration": "exact-online", "environment": "bakkerij-de-vries",
        "administration": ("101", "102")[n % 2], "kind": "book",
        "payload": {"journal": "60", "supplier": "S001", "entry_date": "2026-11-20", "description": f"Invoice {n}",
                    "lines": [{"gl_account": "4000", "amount": 121.0, "vat_code": "2"}]},
    }, outbox.ActionRequest)


def settings_for(folder: Path, base_url: str = "http://127.0.0.1:9"):
    config = folder / "bench.toml"
    config.write_text(CONFIG)
    return load_settings(config, environ={"STATUSPAGE_DB": str(folder / "bench.db"), "STATUSPAGE_EXACT_BASE_URL": base_url,
                                          "STATUSPAGE_EXACT_CLIENT_ID": "sandbox-client"})


def hand_in(settings, count: int, *, switched_off: bool) -> None:
    db = storage.open_database(settings.database.path)
    now = datetime.now(UTC)
    with storage.write_transaction(db):
        storage.sync_components(db, component_definitions(settings), now)
        if switched_off:
            switches.switch(db, settings, OPERATOR, now, integration="exact-online", environment=None, enabled=False,
                          reason="bench")
        for n in range(count):
            outbox.accept(db, settings, "bench-client", now, request(n))
    db.close()


def timed_switch(settings, *, enabled: bool) -> tuple[int, float, float]:
    """Flip the integration's switch in one write transaction: (actions moved, wall and CPU milliseconds,
    commit included). CPU time is this thread's: on a shared machine it varies less than the wall time."""
    db = storage.open_database(settings.database.path)
    started, cpu = time.perf_counter(), time.thread_time()
    with storage.write_transaction(db):
        change = switches.switch(db, settings, OPERATOR, datetime.now(UTC), integration="exact-online",
                                 environment=None, enabled=enabled, reason="bench")
    elapsed, used = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
    db.close()
    return change.moved, elapsed, used


STEPS = (("switch off", "queued actions to delayed", False),
         ("switch on", "delayed actions queued for replay", True),
         ("off again", "replay's actions back to delayed", False))


def bench_switch_off(actions: int, repeat: int) -> None:
    """Each repetition starts from a copy of the same database (every action queued, none ever replayed)
    and flips the switch off, on, and off again (mid-replay, before any action was booked)."""
    with tempfile.TemporaryDirectory() as folder:
        settings = settings_for(Path(folder))
        started = time.perf_counter()
        hand_in(settings, actions, switched_off=False)
        print(f"handed in {actions:,} queued actions in {time.perf_counter() - started:.1f} s; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        path = Path(settings.database.path)
        pristine = path.with_suffix(".pristine")
        shutil.copyfile(path, pristine)  # open_database checkpointed and closed it: the file is whole
        measured: list[list[tuple[float, float]]] = [[] for _ in STEPS]
        for _ in range(repeat):
            for suffix in ("-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(pristine, path)
            for n, (_, _, enabled) in enumerate(STEPS):
                moved, wall, cpu = timed_switch(settings, enabled=enabled)
                assert moved == actions, (STEPS[n][0], moved)
                measured[n].append((wall, cpu))
        for (name, what, _), runs in zip(STEPS, measured, strict=True):
            walls, cpus = [run[0] for run in runs], [run[1] for run in runs]
            print(f"{name:>10}: {actions:,} {what}, {repeat} times: wall best {min(walls):,.0f} ms, median "
                  f"{statistics.median(walls):,.0f} ms; CPU best {min(cpus):,.0f} ms, median {statistics.median(cpus):,.0f} ms")
        print(f"load average afterwards {os.getloadavg()[0]:.1f}")


async def bench_replay(minutes: float, limit: int) -> None:
    sandbox = ExactOnlineSandbox(demo_scenario(), faults=Faults(minutely_limit=limit, daily_limit=10_000_000)).start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            os.environ["STATUSPAGE_EXACT_CLIENT_SECRET"] = "sandbox-secret"
            settings = settings_for(Path(folder), sandbox.url)
            # More than the limits let through in the time given, so the replay runs the whole time.
            backlog = int(limit * (minutes + 1) * 2 * 1.5)
            store = storage.Store(settings.database.path)
            store.open()
            links = Links(INSTALLED, settings, store, system_clock, {"exact-online": sandbox.url})
            link = links["exact-online"]
            async with httpx.AsyncClient() as http:
                answer = await http.post(f"{sandbox.url}/api/oauth2/auth", data={
                    "client_id": "sandbox-client", "redirect_uri": link.redirect_uri, "state": "b",
                    "username": "j.devries"})
                await link.connect("bakkerij-de-vries", parse_qs(urlsplit(answer.headers["location"]).query)["code"][0],
                                   "bench")
                await asyncio.to_thread(hand_in, settings, backlog, switched_off=True)
                dispatcher = Dispatcher(store, settings, system_clock, links)
                running = asyncio.create_task(dispatcher.run_forever())
                switched_on_at = datetime.now(UTC)
                await store.write(lambda db: switches.switch(db, settings, OPERATOR, datetime.now(UTC),
                                                           integration="exact-online", environment=None,
                                                           enabled=True, reason="bench"))
                dispatcher.wake()
                # The first minute may spend a fresh window at once; measure the steady minutes after it.
                await asyncio.sleep((minutes + 1) * 60)
                running.cancel()
                traffic = (await http.get(f"{sandbox.url}/_sandbox/traffic")).json()
                entries = (await http.get(f"{sandbox.url}/_sandbox/ledger")).json()["entries"]
            await links.aclose()
            store.close()
    finally:
        sandbox.stop()
    steady_from = switched_on_at + timedelta(minutes=1)
    steady_until = steady_from + timedelta(minutes=minutes)
    calls = [x for x in traffic["exchanges"] if steady_from <= datetime.fromisoformat(x["at"]) < steady_until]
    all_calls = [x for x in traffic["exchanges"] if datetime.fromisoformat(x["at"]) >= switched_on_at]
    elapsed_minutes = minutes
    by_division = Counter(str(x.get("division")) for x in calls if x.get("division") is not None)
    booked = Counter(str(entry["division"]) for entry in entries
                     if steady_from <= datetime.fromisoformat(entry["booked_at"]) < steady_until)
    statuses = Counter(x["status"] for x in all_calls)
    print(f"replay against the sandbox at {limit} calls/minute per division, backlog {backlog:,}; "
          f"measured over {minutes:g} steady minute(s) after the first:")
    for division in ("101", "102"):
        call_rate = by_division[division] / elapsed_minutes
        booking_rate = booked[division] / elapsed_minutes
        print(f"  division {division}: {booked[division]:,} booked ({booking_rate:.1f}/min), "
              f"{by_division[division]:,} API calls ({call_rate:.1f}/min) = {call_rate / limit:.1%} of the limit")
    print(f"  answers by status over the whole replay: {dict(sorted(statuses.items()))}; 429s: {statuses.get(429, 0)}")
    if len(traffic["exchanges"]) >= 1000:
        print("  (the sandbox keeps its last 1000 exchanges: the call counts above are a lower bound)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--actions", type=int, default=100_000, help="queued actions to switch off (default 100,000)")
    parser.add_argument("--replay-minutes", type=float, default=2.0)
    parser.add_argument("--limit", type=int, default=60, help="the sandbox's calls per minute per division")
    parser.add_argument("--repeat", type=int, default=5, help="switch off and on again this many times (default 5)")
    parser.add_argument("--skip-replay", action="store_true")
    args = parser.parse_args()
    bench_switch_off(args.actions, args.repeat)
    if not args.skip_replay:
        asyncio.run(bench_replay(args.replay_minutes, args.limit))


if __name__ == "__main__":
    main()
