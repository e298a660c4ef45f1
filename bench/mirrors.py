"""Benchmarks of the mirror rules (issue 16; run by hand, not a test).

1. Reconciliation of 5,000 and of 100,000 Exact Online relations against a Visma.net company holding 95 % of them
   (and 2 % customers made by hand, without a reference): the keyed join alone (`reconcile.plan`), and a preview as
   a run makes it, from the SQLite mirror (read, decode, join, check against the outbox). Targets: under 0.2 s for
   5,000 and under 2 s for 100,000 (seed 001: ~17 s for ~5,000 in one SQL statement against the live systems).
   The reference in the same run: the same join as one SQL statement over the same mirror, in SQLite, which must
   find the same rows to insert.
2. The insert rate into the Visma.net sandbox at its hourly limit: a backlog of inserts handed to the outbox, sent
   by the service's dispatcher through the registry's Visma.net connector and the call budget. The sandbox, the
   client and the budget share a clock that moves when someone sleeps (or when the bench jumps it to the next
   write that is due), so whole hours pass in seconds and the pacing is the real code's. Reported per clock hour:
   the calls made as a share of the hourly limit (an insert is two calls: the POST and the read-back) and the
   inserts; 429s over the whole run (target: none of our own making).

    .venv/bin/python bench/mirrors.py
    .venv/bin/python bench/mirrors.py --sizes 5000 100000 --hourly-limit 600 --hours 3
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from integrations.visma_net.sandbox import SANDBOX_CLIENT_SECRET, Faults, VismaNetSandbox, empty_scenario  # noqa: E402
from statuspage.actions import outbox  # noqa: E402
from statuspage.actions.connections import Links  # noqa: E402
from statuspage.actions.dispatcher import Dispatcher  # noqa: E402
from statuspage.config import load_settings  # noqa: E402
from statuspage.core import storage  # noqa: E402
from statuspage.core.installed import INSTALLED  # noqa: E402
from statuspage.core.storage import Store  # noqa: E402
from statuspage.mirrors.engine import MirrorEngine  # noqa: E402
from statuspage.mirrors.reconcile import plan  # noqa: E402
from statuspage.mirrors.rules import compiled_rules  # noqa: E402
from statuspage.page.snapshot import component_definitions  # noqa: E402
from statuspage.sync.reconcile import record_of  # noqa: E402

COMPANY = "1896329"
TENANT = "5f0c1e2a-7d3b-4c59-9a61-0b8e4f2d7c31"
START = datetime(2026, 11, 23, 9, 0, 0, tzinfo=UTC)


def config(visma_url: str) -> str:
    return f"""
[demo]
enabled = false
[sync]
enabled = false
[integrations.visma-net]
base_url = "{visma_url}"
connect_url = "{visma_url}"
[[environments]]
key = "jansen-groep"
name = "Jansen Groep"
administrations = [{{ code = "201", name = "Jansen Installatietechniek B.V." }}]
[[environments]]
key = "jansen-visma"
name = "Jansen Groep"
integration = "visma-net"
administrations = [{{ code = "{COMPANY}", name = "Jansen Installatietechniek B.V." }}]
[[mirrors]]
key = "relations"
source = {{ environment = "jansen-groep", administration = "201", entity = "accounts" }}
target = {{ environment = "jansen-visma", administration = "{COMPANY}", entity = "customers" }}
identified_by = 'reference = "EOL-" + trim(code)'
"""


class MovingClock:
    """One clock for the sandbox, the client and the budget: sleeping moves it instead of waiting."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=max(0.0, seconds))
        await asyncio.sleep(0)


# ---------------------------------------------------------------------------------------------------------------
# 1. Reconciliation


def relations(count: int, rng: random.Random) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """`count` relations as the mirror keeps Exact's accounts, and a Visma.net company holding 95 % of them (in
    another order, by customer number) plus 2 % customers made by hand."""
    source = []
    for n in range(count):
        key = f"{rng.getrandbits(128):032x}"
        source.append((key, {"id": key, "code": str(100_000 + n), "name": f"Relatie {n} B.V.", "is_supplier": n % 3 == 0,
                             "is_customer": n % 3 != 0, "status": "C", "blocked": False,
                             "vat_number": f"NL{n:09d}B01", "email": f"r{n}@example.test", "city": "Zwolle",
                             "country": "NL", "modified": "2026-11-20T10:00:00+01:00"}))
    mirrored = rng.sample(range(count), int(count * 0.95))
    target = []
    for number, n in enumerate(mirrored):
        target.append((str(10_000 + number), {"number": str(10_000 + number), "name": f"Relatie {n} B.V.",
                                              "reference": f"EOL-{100_000 + n}", "status": "Active"}))
    for m in range(int(count * 0.02)):
        number = str(10_000 + len(mirrored) + m)
        target.append((number, {"number": number, "name": f"Klant {m}", "reference": None, "status": "Active"}))
    source.sort()
    target.sort()
    return source, target


REFERENCE_SQL = """
WITH source AS (
    SELECT 'EOL-' || trim(json_extract(content, '$.code')) AS ref, json_extract(content, '$.name') AS name
      FROM mirror_rows
     WHERE environment = 'jansen-groep' AND administration = '201' AND entity = 'accounts' AND deleted_at IS NULL
       AND trim(coalesce(json_extract(content, '$.code'), '')) <> ''),
target AS (
    SELECT json_extract(content, '$.reference') AS ref
      FROM mirror_rows
     WHERE environment = 'jansen-visma' AND administration = '1896329' AND entity = 'customers' AND deleted_at IS NULL
       AND coalesce(json_extract(content, '$.reference'), '') <> '')
SELECT source.ref, source.name FROM source WHERE source.ref NOT IN (SELECT ref FROM target)
"""
"""Seed 001's `synchronize ... with insert identified by accountreference ignore nulls`, as one SQL statement over
the same mirror: the rows to insert."""


def timed(work: Any, repeat: int) -> tuple[float, float, Any]:
    """The median wall time and process CPU time (all threads) of `work()` over `repeat` runs (seconds), and its last
    answer. On a machine shared with other work the CPU time is the fairer figure: the wall time waits for the CPU."""
    walls, cpus, answer = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        answer = work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), answer


async def timed_async(work: Any, repeat: int) -> tuple[float, float, Any]:
    """`timed` for a coroutine function."""
    walls, cpus, answer = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        answer = await work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), answer


async def reconciliation(sizes: list[int], repeat: int) -> None:
    print(f"reconciliation, median of {repeat} runs, wall s / CPU s (load average now {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores; seed 001: ~17 s for ~5,000 relations):")
    rng = random.Random(16)
    for count in sizes:
        source, target = relations(count, rng)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.toml"
            path.write_text(config("http://127.0.0.1:9"))
            settings = load_settings(path, environ={"STATUSPAGE_DB": str(Path(folder) / "bench.db")})
            rule = compiled_rules(settings, INSTALLED)["relations"]
            join = timed(functools.partial(plan, rule, source, target), repeat)
            store = Store(settings.database.path)
            store.open()
            try:
                await store.write(_fill, source, target, settings)
                engine = MirrorEngine(store, settings, datetime.now, {"relations": rule}, _NoTarget())
                preview = await timed_async(functools.partial(engine.preview, "relations"), repeat)
                sql = await store.read(lambda db: timed(lambda: db.execute(REFERENCE_SQL).fetchall(), repeat))
            finally:
                store.close()
        found = join[2]
        inserts = {write.key for write in found.inserts}
        assert inserts == {write.key for write in preview[2].plan.inserts} == {ref for ref, _ in sql[2]}, "not one answer"
        target_for = 0.2 if count <= 5000 else 2.0
        print(f"  {count:>7,} relations, the target holds {int(count * 0.95):,} (+{int(count * 0.02):,} made by hand): "
              f"{len(inserts):,} to insert, {found.unchanged:,} unchanged")
        print(f"      join alone {join[0]:.3f} / {join[1]:.3f}; preview from the SQLite mirror {preview[0]:.3f} / "
              f"{preview[1]:.3f} (target < {target_for:g} s); the same join as one SQL statement in SQLite "
              f"{sql[0]:.3f} / {sql[1]:.3f}")


class _NoTarget:
    async def refresh(self, rule: Any) -> str | None:
        return "not read in the bench"


def _fill(db: Any, source: list[tuple[str, dict[str, Any]]], target: list[tuple[str, dict[str, Any]]],
          settings: Any) -> None:
    """Both sides into the mirror as the sync writes them, and a done sync run of the target (read once)."""
    now = datetime.now(UTC)
    accounts = INSTALLED.get("exact-online").master_data.table["accounts"]
    customers = INSTALLED.get("visma-net").master_data.table["customers"]
    storage.write_rows(db, "jansen-groep", "201", "accounts", [record_of(accounts, row) for _, row in source], now)
    storage.write_rows(db, "jansen-visma", COMPANY, "customers", [record_of(customers, row) for _, row in target], now)
    task = storage.queue_sync_task(db, environment="jansen-visma", administration=COMPANY, kind="full",
                                   trigger="manual", entities=None, fingerprint="bench", requested_by="bench", now=now)
    run = storage.insert_sync_run(db, task_id=task[0], environment="jansen-visma", administration=COMPANY,
                                  entity="customers", kind="full", state="done", now=now)
    storage.update_sync_run(db, run, now, finished_at=storage.iso(now))


# ---------------------------------------------------------------------------------------------------------------
# 2. Insert rate at the hourly limit


async def insert_rate(hourly_limit: int, hours: int) -> None:
    clock = MovingClock(START)
    sandbox = VismaNetSandbox(empty_scenario(), clock=clock, faults=Faults(hourly_limit=hourly_limit)).start()
    os.environ["STATUSPAGE_VISMA_NET_CLIENT_SECRET"] = SANDBOX_CLIENT_SECRET
    backlog = hourly_limit // 2 * (hours + 1)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.toml"
            path.write_text(config(sandbox.url))
            settings = load_settings(path, environ={"STATUSPAGE_DB": str(Path(folder) / "bench.db")})
            store = Store(settings.database.path)
            store.open()
            links = Links(INSTALLED, settings, store, clock, {"visma-net": sandbox.url}, sleep=clock.sleep)
            await links["visma-net"].connect("jansen-visma", f"{COMPANY}={TENANT}", "bench")
            await store.write(_hand_in, settings, clock(), backlog)
            dispatcher = Dispatcher(store, settings, clock, links)
            while True:
                await dispatcher.settle()
                due = await store.read(_next_due)
                if due is None:
                    break
                clock.now = max(clock.now, storage.moment(due) or clock.now)
            await links.aclose()
            store.close()
    finally:
        sandbox.stop()
    elapsed = time.perf_counter() - started
    windows = {start: used for (_, _, start), used in sandbox.state.windows.items()}
    statuses: Counter[str] = Counter(sandbox.state.traffic_report()["statuses"])
    print(f"insert rate into Visma.net's sandbox at {hourly_limit:,} calls an hour (a backlog of {backlog:,} inserts, "
          f"2 calls each), {elapsed:.1f} s of real time:")
    for start in sorted(windows)[:hours + 1]:
        used = windows[start]
        print(f"  hour {start:%H}:00: {used:,} calls = {used / hourly_limit:.1%} of the limit, about {used // 2:,} inserts")
    print(f"  answers by status: {dict(sorted(statuses.items()))}; 429s: {statuses.get('429', 0)}")


def _hand_in(db: Any, settings: Any, now: datetime, count: int) -> None:
    storage.sync_components(db, component_definitions(settings), now)
    for n in range(count):
        request = msgspec.convert({
            "idempotency_key": f"mi-bench-{n:07d}", "integration": "visma-net", "environment": "jansen-visma",
            "administration": COMPANY, "kind": "mirror_insert",
            "payload": {"entity": "customers", "key": f"EOL-{100_000 + n}", "fields": {"name": f"Relatie {n} B.V."}},
        }, outbox.ActionRequest)
        outbox.accept(db, settings, "mirror:relations", now, request, internal=True)


def _next_due(db: Any) -> str | None:
    return db.execute("SELECT min(not_before) FROM actions WHERE state = 'queued'").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--hourly-limit", type=int, default=600, help="the sandbox's calls per company an hour")
    parser.add_argument("--hours", type=int, default=2, help="whole hours measured after the first")
    args = parser.parse_args()
    asyncio.run(reconciliation(args.sizes, args.repeat))
    asyncio.run(insert_rate(args.hourly_limit, args.hours))


if __name__ == "__main__":
    main()
