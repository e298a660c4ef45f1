"""Everything one sandbox knows, behind one lock: its people and divisions, tokens, ledger, budgets, faults,
and a log of the traffic it answered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from integrations.base import Clock
from integrations.exact_online.sandbox.faults import Faults
from integrations.exact_online.sandbox.ledger import Ledger
from integrations.exact_online.sandbox.limits import Budgets, ErrorCounter
from integrations.exact_online.sandbox.masterdata import DataSize, MasterData
from integrations.exact_online.sandbox.scenario import Environment, SandboxDivision, SandboxUser, Scenario
from integrations.exact_online.sandbox.tokens import TokenAuthority
from integrations.sandboxes.state import SandboxStateBase


@dataclass(frozen=True)
class Exchange:
    at: datetime
    method: str
    endpoint: str
    """`current/Me`, `system/Divisions`, `oauth2/token`, ...: the path without its division."""
    division: int | None
    """The division in the URL, which under the 2019 bug is not where the call was served."""
    status: int
    user: str | None
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "method": self.method, "endpoint": self.endpoint,
                "division": self.division, "status": self.status, "user": self.user, "note": self.note}


class SandboxState(SandboxStateBase[Faults, Exchange]):
    authority: TokenAuthority

    def __init__(
        self, scenario: Scenario, *, clock: Clock, seed: int, faults: Faults, data_size: DataSize | None = None
    ) -> None:
        super().__init__(name=scenario.name, apps=scenario.apps, clock=clock, seed=seed, faults=faults)
        self.divisions: dict[int, SandboxDivision] = {d.code: d for d in scenario.divisions}
        self.users: dict[str, SandboxUser] = {u.username: u for u in scenario.users}
        self.environments: list[Environment] = list(scenario.environments)
        self.authority = TokenAuthority(self.rng, lambda: self.faults.token_calls_per_day)
        self.ledger = Ledger(self.rng)
        self.masterdata = MasterData(seed=seed, size=data_size or DataSize(), clock=clock)
        for code in self.divisions:  # generated now, so their Modified does not depend on who reads first
            self.masterdata.division(code)
        self.budgets = Budgets()
        self.errors = ErrorCounter()

    def _traffic_details(self) -> dict[str, Any]:
        now = self.clock()
        return {"token_calls_today": self.authority.token_calls(now), **self.errors.report(now)}
