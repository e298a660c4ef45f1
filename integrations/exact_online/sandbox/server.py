"""The sandbox as a server: on a thread inside a test or the demo, or in the foreground from the command line.

    python -m integrations.exact_online.sandbox --port 8090 [--seed 7] [--scenario demo] [--accounts 100000]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Unpack

from integrations.base import Clock
from integrations.exact_online.sandbox import api, control, oauth
from integrations.exact_online.sandbox.faults import Faults
from integrations.exact_online.sandbox.masterdata import DataSize
from integrations.exact_online.sandbox.messages import Reply, Request, error_reply
from integrations.exact_online.sandbox.scenario import SANDBOX_CLIENT_ID, SCENARIOS, Scenario, demo_scenario
from integrations.exact_online.sandbox.state import SandboxState
from integrations.sandboxes.server import SandboxHandlerWithPut, SandboxOptions, ScenarioSandbox, argument_parser, serve


class _Handler(SandboxHandlerWithPut):
    # Exact's REST API takes PUT (cashflow/Payments), and its links follow the client through a TLS proxy.
    honours_forwarded_proto = True


HOLD_LIMIT = 60.0
"""Seconds a POST is held at most by the `hold_bookings` fault, so a forgotten hold cannot hang a test for ever."""


class ExactOnlineSandbox(ScenarioSandbox[SandboxState, Scenario, Faults]):
    """A local Exact Online. `with ExactOnlineSandbox(clock=clock) as sandbox: ... sandbox.url ...`; `data_size`:
    how much master data each division generates (`DataSize()` by default)."""

    thread_name = "exact-online-sandbox"
    handler = _Handler

    def __init__(self, scenario: Scenario | None = None, *, faults: Faults | None = None,
                 data_size: DataSize | None = None, **options: Unpack[SandboxOptions]) -> None:
        self._data_size = data_size
        self.held_bookings = 0
        """POSTs waiting now under the `hold_bookings` fault: a test knows a booking is under way, not just queued."""
        super().__init__(scenario, faults=faults, **options)

    def new_state(self, scenario: Scenario | None, *, faults: Faults | None, clock: Clock, seed: int) -> SandboxState:
        return SandboxState(scenario or demo_scenario(), clock=clock, seed=seed, faults=faults or Faults(),
                            data_size=self._data_size)

    def dispatch(self, request: Request) -> Reply:
        if request.method == "POST" and request.path.startswith("/api/v1/"):
            self._hold_while_bookings_are_held()
        state = self.state
        # One request at a time changes the sandbox; waits (latency, hangs) happen after, outside the lock.
        with state.lock:
            if request.path.startswith("/api/v1/"):
                return api.handle(state, request)
            if request.path == "/api/oauth2/auth":
                return oauth.authorize(state, request) if request.method == "POST" else oauth.sign_in_page(state, request)
            if request.path == "/api/oauth2/token" and request.method == "POST":
                return oauth.token(state, request)
            if request.path.startswith("/_sandbox/"):
                return control.handle(state, request)
            return error_reply(404, "Not found.")

    def _hold_while_bookings_are_held(self) -> None:
        # A slow booking, released by a test rather than by the wall clock, so its timing is the test's choice.
        waited = 0.0
        if not self.state.faults.hold_bookings:
            return
        with self.state.lock:
            self.held_bookings += 1
        try:
            while self.state.faults.hold_bookings and waited < HOLD_LIMIT:
                time.sleep(0.005)
                waited += 0.005
        finally:
            with self.state.lock:
                self.held_bookings -= 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argument_parser("python -m integrations.exact_online.sandbox",
                             "A local server speaking Exact Online's REST and OAuth2 protocol.", SCENARIOS,
                             seed_help="same seed, same tokens and entry numbers")
    parser.add_argument("--accounts", type=int, default=DataSize().accounts,
                        help="accounts generated per division (up to 100,000)")
    args = parser.parse_args(argv)
    sandbox = ExactOnlineSandbox(SCENARIOS[args.scenario](), host=args.host, port=args.port, seed=args.seed,
                                 data_size=DataSize(accounts=args.accounts))
    return serve(sandbox, f"Exact Online sandbox ({args.scenario})", SANDBOX_CLIENT_ID, [
        f"  {environment.name}: connection user {environment.connection_user}, "
        f"divisions {', '.join(map(str, environment.divisions))}" for environment in sandbox.state.environments])
