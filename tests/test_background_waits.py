"""The background loops' waits let a shutdown through (statuspage/core/waiting.py).

Python 3.11's `asyncio.wait_for` swallows a cancellation that arrives in the same turn as what it waits for
finishes (CPython gh-86296): a wake-up of the dispatcher at the moment of a shutdown kept it running, and the
shutdown waited for it for good. Each test here makes exactly that turn happen: set, then cancel, before the
event loop runs again.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from statuspage.core.waiting import until_woken, within

ROOT = Path(__file__).resolve().parent.parent


async def _started(coroutine) -> asyncio.Task:
    task = asyncio.ensure_future(coroutine)
    for _ in range(3):  # let it reach its wait
        await asyncio.sleep(0)
    return task


def test_a_cancel_in_the_turn_of_a_wake_up_stops_the_waiter() -> None:
    async def scenario() -> None:
        wake = asyncio.Event()
        waiter = await _started(until_woken(wake, 60))
        wake.set()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter

    asyncio.run(scenario())


def test_a_wake_up_ends_the_wait_and_no_wake_up_ends_it_after_its_seconds() -> None:
    async def scenario() -> tuple[bool, bool]:
        wake = asyncio.Event()
        woken = await _started(until_woken(wake, 60))
        wake.set()
        await woken
        await until_woken(asyncio.Event(), 0)  # nothing wakes it: over at once, no error
        return woken.done(), not woken.cancelled()

    assert asyncio.run(scenario()) == (True, True)


def test_a_cancel_in_the_turn_work_finishes_stops_the_caller() -> None:
    async def scenario() -> None:
        release = asyncio.Event()

        async def work() -> str:
            await release.wait()
            return "answer"

        caller = await _started(within(60, work()))
        release.set()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller

    asyncio.run(scenario())


def test_work_that_takes_too_long_is_a_timeout_and_its_answer_comes_back_otherwise() -> None:
    async def scenario() -> str:
        with pytest.raises(TimeoutError):
            await within(0, asyncio.Event().wait())
        return await within(60, asyncio.sleep(0, result="answer"))

    assert asyncio.run(scenario()) == "answer"


def test_no_background_code_waits_with_asyncio_wait_for() -> None:
    """The rule above, kept: every timed wait in the service goes through statuspage/core/waiting.py."""
    users = [str(path.relative_to(ROOT)) for folder in ("statuspage", "integrations") for path in (ROOT / folder).rglob("*.py")
             if re.search(r"\bwait_for\(", path.read_text())]
    assert users == []
