"""The sandbox as a server: on a thread inside a test or the demo, or in the foreground from the command line.

    python -m integrations.visma_net.sandbox --port 8093 [--seed 7] [--scenario demo] [--hourly-limit 500]

Visma Connect (`/connect/token`) and the ERP API (`/v1/...`) answer on one port: point both `connect_url` and
`api_url` of `VismaNetSettings` at `sandbox.url`.
"""

from __future__ import annotations

from collections.abc import Sequence

from integrations.base import Clock
from integrations.sandboxes.server import SandboxHandlerWithPut, ScenarioSandbox, argument_parser, serve
from integrations.visma_net.sandbox import api, control
from integrations.visma_net.sandbox.faults import Faults
from integrations.visma_net.sandbox.messages import Reply, Request, gateway_error
from integrations.visma_net.sandbox.scenario import SANDBOX_CLIENT_ID, SCENARIOS, Scenario, demo_scenario
from integrations.visma_net.sandbox.state import SandboxState


class VismaNetSandbox(ScenarioSandbox[SandboxState, Scenario, Faults]):
    """A local Visma.net: Visma Connect and the ERP API on one port.
    `with VismaNetSandbox(clock=clock) as sandbox: ... sandbox.url ...`"""

    thread_name = "visma-net-sandbox"
    handler = SandboxHandlerWithPut  # the ERP API updates a customer with PUT

    def new_state(self, scenario: Scenario | None, *, faults: Faults | None, clock: Clock, seed: int) -> SandboxState:
        return SandboxState(scenario or demo_scenario(), clock=clock, seed=seed, faults=faults or Faults())

    def dispatch(self, request: Request) -> Reply:
        state = self.state
        # One request at a time changes the sandbox; waits (latency, slow inserts, hangs) happen after, outside it.
        with state.lock:
            if request.path.startswith("/v1/"):
                return api.handle(state, request)
            if request.path == "/connect/token" and request.method == "POST":
                return api.token(state, request)
            if request.path.startswith("/_sandbox/"):
                return control.handle(state, request)
            return gateway_error(404, "Resource not found")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argument_parser("python -m integrations.visma_net.sandbox",
                             "A local server speaking Visma Connect and the Visma.net ERP API.", SCENARIOS,
                             seed_help="same seed, same tokens")
    parser.add_argument("--hourly-limit", type=int, default=Faults().hourly_limit,
                        help="calls per company and client per hour")
    parser.add_argument("--insert-ms", type=int, default=0, help="milliseconds each create takes to answer")
    args = parser.parse_args(argv)
    sandbox = VismaNetSandbox(SCENARIOS[args.scenario](), host=args.host, port=args.port, seed=args.seed,
                              faults=Faults(hourly_limit=args.hourly_limit, insert_ms=args.insert_ms))
    return serve(sandbox, f"Visma.net sandbox ({args.scenario})", SANDBOX_CLIENT_ID, [
        f"  company {company.company_id} ({company.name}): tenant_id {company.tenant_id}, "
        f"{len(company.customers)} customers" for company in sandbox.state.companies.values()])
