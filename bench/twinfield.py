"""Replay throughput into the Twinfield sandbox against its credit limit (run by hand; not a test).

A backlog held by the switch is replayed through the service's own dispatcher and the registry's Twinfield
connector into two offices of one organisation (Jansen Groep: NLA201, NLA202). Twinfield's limit is the
organisation's credits per clock minute (the sandbox: `--credits` per minute, reads 1, writes 3). Reported per
clock minute, the first (the replay starts on its boundary) and the steady ones after it: credits spent as a share
of the limit (goal: at least 90 %), bookings per minute, and the 429 answers over the whole replay (goal: none; our
own credit count must never provoke one).

    .venv/bin/python bench/twinfield.py                    # 600 credits/minute, 2 steady minutes
    .venv/bin/python bench/twinfield.py --credits 300 --minutes 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from integrations.twinfield.oauth import AUTHORIZE_PATH  # noqa: E402
from integrations.twinfield.sandbox import Faults, TwinfieldSandbox, demo_scenario  # noqa: E402
from statuspage.actions import outbox, switches  # noqa: E402
from statuspage.actions.connections import Links  # noqa: E402
from statuspage.actions.dispatcher import Dispatcher  # noqa: E402
from statuspage.config import load_settings  # noqa: E402
from statuspage.core import storage  # noqa: E402
from statuspage.core.clock import system_clock  # noqa: E402
from statuspage.core.installed import INSTALLED  # noqa: E402
from statuspage.core.operation import Actor  # noqa: E402
from statuspage.page.snapshot import component_definitions  # noqa: E402

OPERATOR = Actor("bench")
WRITES = {"transaction", "dimension", "paymentblock"}


def config(sandbox_url: str, credits: int) -> str:
    return f"""
[demo]
enabled = false
[[components]]
key = "twinfield"
name = "Twinfield"
[integrations.twinfield]
base_url = "{sandbox_url}"
credits_per_minute = {credits}
[[environments]]
key = "jansen-twinfield"
name = "Jansen Groep"
integration = "twinfield"
administrations = [{{ code = "NLA201", name = "Jansen Installatietechniek B.V." }},
                   {{ code = "NLA202", name = "Jansen Holding B.V." }}]
"""


def request(n: int) -> outbox.ActionRequest:
    return msgspec.convert({
        "idempotency_key": f"BENCH-{n:07d}", "integration": "twinfield", "environment": "jansen-twinfield",
        "administration": ("NLA201", "NLA202")[n % 2], "kind": "book",
        "payload": {"journal": "INK", "supplier": "2003", "entry_date": "2026-11-20", "description": f"Invoice {n}",
                    "lines": [{"gl_account": "7000", "amount": 121.0, "vat_code": "IH"}]},
    }, outbox.ActionRequest)


def hand_in(settings, count: int) -> None:
    db = storage.open_database(settings.database.path)
    now = datetime.now(UTC)
    with storage.write_transaction(db):
        storage.sync_components(db, component_definitions(settings), now)
        switches.switch(db, settings, OPERATOR, now, integration="twinfield", environment=None, enabled=False,
                        reason="bench")
        for n in range(count):
            outbox.accept(db, settings, "bench-client", now, request(n))
    db.close()


async def bench(minutes: int, credits: int) -> None:
    sandbox = TwinfieldSandbox(demo_scenario(), faults=Faults(credits_per_minute=credits)).start()
    os.environ["STATUSPAGE_TWINFIELD_CLIENT_SECRET"] = "sandbox-secret"
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.toml"
            path.write_text(config(sandbox.url, credits))
            settings = load_settings(path, environ={"STATUSPAGE_DB": str(Path(folder) / "bench.db")})
            backlog = int(credits / 3 * (minutes + 2) * 1.5)
            store = storage.Store(settings.database.path)
            store.open()
            links = Links(INSTALLED, settings, store, system_clock, {"twinfield": sandbox.url})
            link = links["twinfield"]
            async with httpx.AsyncClient() as http:
                answer = await http.post(f"{sandbox.url}{AUTHORIZE_PATH}", data={
                    "client_id": "sandbox-client", "redirect_uri": link.redirect_uri, "state": "b", "user": "PJANSEN"})
                code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
                await link.connect("jansen-twinfield", code, "bench")
                await asyncio.to_thread(hand_in, settings, backlog)
                # Start the replay on a minute's boundary, so whole clock minutes (Twinfield's window) are measured.
                now = datetime.now(UTC)
                await asyncio.sleep(60 - now.second - now.microsecond / 1e6 + 0.05)
                dispatcher = Dispatcher(store, settings, system_clock, links)
                running = asyncio.create_task(dispatcher.run_forever())
                switched_on_at = datetime.now(UTC)
                await store.write(lambda db: switches.switch(db, settings, OPERATOR, datetime.now(UTC),
                                                             integration="twinfield", environment=None,
                                                             enabled=True, reason="bench"))
                dispatcher.wake()
                await asyncio.sleep((minutes + 1) * 60)
                running.cancel()
                traffic = (await http.get(f"{sandbox.url}/_sandbox/traffic")).json()
            await links.aclose()
            store.close()
    finally:
        sandbox.stop()
    first = switched_on_at.replace(second=0, microsecond=0)
    print(f"replay into Twinfield's sandbox at {credits} credits/minute per organisation (reads 1, writes 3), "
          f"backlog {backlog:,}, {minutes} steady minute(s) after the first:")
    statuses: Counter[int] = Counter()
    for x in traffic["exchanges"]:
        if datetime.fromisoformat(x["at"]) >= switched_on_at:
            statuses[x["status"]] += 1
    for m in range(minutes + 1):
        start, end = first + timedelta(minutes=m), first + timedelta(minutes=m + 1)
        calls = [x for x in traffic["exchanges"] if start <= datetime.fromisoformat(x["at"]) < end
                 and x["service"] in ("ProcessXml", "Finder") and x["status"] == 200]
        writes = sum(1 for x in calls if x["operation"] in WRITES)
        reads = len(calls) - writes
        spent = writes * 3 + reads
        print(f"  minute {m + 1}{' (the first)' if m == 0 else ''}: {writes} bookings, {reads} reads, {spent} credits = "
              f"{spent / credits:.1%} of the limit (at most {credits // 3} bookings fit)")
    print(f"  answers by status over the whole replay: {dict(sorted(statuses.items()))}; "
          f"429s: {statuses.get(429, 0)}; refused by the sandbox: {traffic['refused']}")
    if len(traffic["exchanges"]) >= 1000:
        print("  (the sandbox keeps its last 1000 exchanges: early minutes may be cut short)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=2, help="steady minutes measured after the first")
    parser.add_argument("--credits", type=int, default=600, help="the sandbox's credits per minute per organisation")
    args = parser.parse_args()
    asyncio.run(bench(args.minutes, args.credits))


if __name__ == "__main__":
    main()
