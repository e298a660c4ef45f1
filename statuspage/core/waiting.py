"""Waiting inside the background loops without swallowing a shutdown.

On Python 3.11, `asyncio.wait_for` swallows a cancellation that arrives while what it waits for has just finished
(CPython gh-86296; 3.12 reimplemented `wait_for` on `asyncio.timeout` to fix it). The dispatcher, the sync engine
and the mirror engine wait for their wake-up event that way; when a wake-up and a shutdown's cancel came in the
same turn of the event loop, the loop went on and the shutdown waited for it for good (seen as a hung test
teardown). `asyncio.timeout` lets the cancellation through.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def until_woken(wake: asyncio.Event, seconds: float) -> None:
    """Wait until `wake` is set or `seconds` (seconds) have passed, whichever comes first. A cancellation of the
    caller always raises `asyncio.CancelledError`, also when `wake` was set in the same turn."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()


async def within(seconds: float, work: Awaitable[T]) -> T:
    """`work`'s result, or `TimeoutError` after `seconds` (seconds) with `work` cancelled. A cancellation of the
    caller always raises `asyncio.CancelledError`, also when `work` finished in the same turn."""
    async with asyncio.timeout(seconds):
        return await work
