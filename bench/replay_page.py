"""Benchmark: does a replay slow the public page down? (issue 11, fault 14)

Why: every write used to discard the cached public documents, so during a replay of thousands of actions
`/api/v2/summary.json` was rebuilt again and again (25,900 -> 11,100 requests/s, p99 4.8 -> 28-32 ms, wrk).
Now the caches follow `Store.page_version`, which moves only when something the page shows changes.

What it does, in one process and one event loop (as the service runs with one worker): the app over ASGI
(httpx.ASGITransport, no sockets, so the numbers are the app's own cost plus the client's), CONCURRENCY client
tasks fetching summary.json for DURATION seconds,

1. idle;
2. during a "replay": a task that, as the dispatcher does, moves actions queued -> running -> done in one
   write each, as fast as the writer thread allows;
3. the same replay with the caches keyed on every write (the behaviour before the fix), for comparison.

It prints requests/s, p50 and p99 latency, the snapshot builds and the writes made, and the ratio of each
replay run to idle. Target: during a replay at least 0.8 x idle throughput and p99 under 10 ms. A benchmark
is a measurement, not a test: it exits 0 either way.

    .venv/bin/python bench/replay_page.py [--duration 5] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import TEST_CONFIG  # noqa: E402  the tests' small configuration, no demo needed

from statuspage.app import create_app  # noqa: E402
from statuspage.config import load_settings  # noqa: E402
from statuspage.core import storage  # noqa: E402
from statuspage.page import public  # noqa: E402


async def measure(app, client: httpx.AsyncClient, duration: float, concurrency: int, replay: bool) -> dict:
    store = app.state.store
    pages = app.state.pages
    builds = 0
    build = pages._build

    async def counted():
        nonlocal builds
        builds += 1
        return await build()

    pages._build = counted
    latencies: list[float] = []
    writes = 0
    stop = time.perf_counter() + duration

    async def visitor(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            response = await client.get("/api/v2/summary.json")
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
            # Over ASGI without sockets a cached answer never waits, so yield as a server's I/O would: else the
            # visitors starve everything else on the loop (the replay included).
            await asyncio.sleep(0)

    async def dispatcher() -> None:
        nonlocal writes
        n = 0
        now = app.state.clock()
        while time.perf_counter() < stop:
            def step(db, n=n):
                action_id = storage.insert_action(db, storage.NewAction(
                    client="bench", idempotency_key=f"R-{time.monotonic_ns()}-{n}", fingerprint="f",
                    integration="exact-online", environment="env", administration="101", kind="book",
                    payload="{}", state="queued"), now, "received")
                storage.move_action(db, action_id, expected="queued", to="running", now=now, cause="sent")
                storage.move_action(db, action_id, expected="running", to="done", now=now, cause="booked")

            await store.write(step)
            writes += 1
            n += 1

    await client.get("/api/v2/summary.json")  # warm
    builds = 0
    started = time.perf_counter()
    await asyncio.gather(*(visitor(client) for _ in range(concurrency)), *([dispatcher()] if replay else []))
    elapsed = time.perf_counter() - started
    pages._build = build
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000, "builds": builds, "writes": writes}


@contextlib.asynccontextmanager
async def lifespan(app) -> AsyncIterator[None]:
    """The app's ASGI lifespan (storage, background work) on this loop, as a server runs it."""
    messages: asyncio.Queue = asyncio.Queue()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def send(message: dict) -> None:
        if message["type"].startswith("lifespan.startup"):
            started.set()
        if message["type"].startswith("lifespan.shutdown"):
            stopped.set()

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, messages.get, send))
    await messages.put({"type": "lifespan.startup"})
    await started.wait()
    try:
        yield
    finally:
        await messages.put({"type": "lifespan.shutdown"})
        await stopped.wait()
        await task


async def main(duration: float, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / "bench.toml"
        config.write_text(TEST_CONFIG + "\n[demo]\nenabled = false\n")
        settings = load_settings(config, environ={"STATUSPAGE_DB": str(Path(directory) / "bench.db")})
        app = create_app(settings)
        async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                    base_url=settings.page.url) as client:
            idle = await measure(app, client, duration, concurrency, replay=False)
            replay = await measure(app, client, duration, concurrency, replay=True)
            # Before the fix: the snapshot keyed on every write, as it was.
            original = public.PublicPages.snapshot

            seen = {"generation": -1}

            async def every_write(self):
                if seen["generation"] != self.store.generation:  # any write at all: build again
                    self._snapshot = None
                    seen["generation"] = self.store.generation
                return await original(self)

            public.PublicPages.snapshot = every_write
            try:
                before = await measure(app, client, duration, concurrency, replay=True)
            finally:
                public.PublicPages.snapshot = original
    for name, run in (("idle", idle), ("replay (now)", replay), ("replay (before the fix)", before)):
        print(f"{name:26} {run['rps']:8.0f} req/s  p50 {run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:6.2f} ms  "
              f"snapshot builds {run['builds']:5d}  writes {run['writes']:5d}  x idle {run['rps'] / idle['rps']:.2f}")
    ok = replay["rps"] >= 0.8 * idle["rps"] and replay["p99_ms"] < 10
    print(("PASS" if ok else "FAIL") + ": during a replay >= 0.8 x idle throughput and p99 < 10 ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=20)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.duration, arguments.concurrency))
