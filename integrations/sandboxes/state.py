"""What every sandbox's state holds, behind one lock: the scenario's apps, the clock, the seeded random, the fault
modes in force, the token authority, and a log of the traffic it answered.

A sandbox's `SandboxState` subclasses `SandboxStateBase` with its people, books and limits, and says what its
traffic report adds (`_traffic_details`). `F` is the sandbox's `Faults` (a msgspec Struct, usually built on
`integrations.sandboxes.faults.FaultModes`), `X` its `Exchange`.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from integrations.base import Clock
from integrations.sandboxes.tokens import TokenAuthority

SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret"
"""The one app every scenario lets in unless it says otherwise."""

TRAFFIC_KEPT = 10_000
"""Exchanges kept in the traffic log; older ones are dropped."""


def sandbox_apps() -> dict[str, str]:
    """A scenario's default apps: client id to client secret."""
    return {SANDBOX_CLIENT_ID: SANDBOX_CLIENT_SECRET}


class Exchange(Protocol):
    """One answered call in a sandbox's own terms; it has at least its HTTP status and a JSON form."""

    @property
    def status(self) -> int: ...

    def as_json(self) -> dict[str, Any]: ...


F = TypeVar("F", bound=msgspec.Struct)
X = TypeVar("X", bound=Exchange)


class SandboxStateBase(Generic[F, X]):
    authority: TokenAuthority
    """Made by the subclass, after this `__init__` (it draws its secrets from `rng`); a sandbox without refresh
    tokens (Visma.net's client credentials) keeps its own grants and overrides `_expire_access_tokens`."""

    def __init__(self, *, name: str, apps: Mapping[str, str], clock: Clock, seed: int, faults: F) -> None:
        # Reentrant: a handler may call helpers that take it again.
        self.lock = threading.RLock()
        self.clock = clock
        self.rng = random.Random(seed)
        self.scenario_name = name
        self.apps = dict(apps)
        self.faults = faults
        self.traffic: deque[X] = deque(maxlen=TRAFFIC_KEPT)

    def record(self, exchange: X) -> None:
        self.traffic.append(exchange)

    def traffic_report(self) -> dict[str, Any]:
        """`statuses` (answers by HTTP status), `exchanges` (the log, oldest first), then the sandbox's own."""
        return {
            "statuses": {str(status): n for status, n in sorted(Counter(x.status for x in self.traffic).items())},
            "exchanges": [x.as_json() for x in self.traffic],
            **self._traffic_details(),
        }

    def _traffic_details(self) -> dict[str, Any]:
        return {}

    def change_faults(self, changes: dict[str, Any]) -> None:
        """`POST /_sandbox/faults`: the fields given replace those in force; `"expire_access_tokens": true` kills
        every access token issued so far. `msgspec.ValidationError` for a field of the wrong type."""
        if changes.pop("expire_access_tokens", False):
            self._expire_access_tokens()
        self.faults = msgspec.convert({**msgspec.to_builtins(self.faults), **changes}, type(self.faults))

    def _expire_access_tokens(self) -> None:
        self.authority.revoke_all_access()

