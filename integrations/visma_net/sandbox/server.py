"""The sandbox as a server: on a thread inside a test or the demo, or in the foreground from the command line.

    python -m integrations.visma_net.sandbox --port 8093 [--seed 7] [--scenario demo] [--hourly-limit 500]

Visma Connect (`/connect/token`) and the ERP API (`/v1/...`) answer on one port: point both `connect_url` and
`api_url` of `VismaNetSettings` at `sandbox.url`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from integrations.base import Clock, utc_now
from integrations.sandboxes.server import SandboxHandler, SandboxServer, argument_parser, serve
from integrations.visma_net.sandbox import api, control
from integrations.visma_net.sandbox.faults import Faults
from integrations.visma_net.sandbox.messages import Reply, Request, gateway_error
from integrations.visma_net.sandbox.scenario import SANDBOX_CLIENT_ID, SCENARIOS, Scenario, demo_scenario
from integrations.visma_net.sandbox.state import SandboxState


def dispatch(state: SandboxState, request: Request) -> Reply:
    # One request at a time changes the sandbox; waits (latency, slow inserts, hangs) happen after, outside the lock.
    with state.lock:
        if request.path.startswith("/v1/"):
            return api.handle(state, request)
        if request.path == "/connect/token" and request.method == "POST":
            return api.token(state, request)
        if request.path.startswith("/_sandbox/"):
            return control.handle(state, request)
        return gateway_error(404, "Resource not found")


class _Handler(SandboxHandler):
    # The ERP API updates a customer with PUT.
    def do_PUT(self) -> None:
        self._answer()


class VismaNetSandbox(SandboxServer[SandboxState]):
    """A local Visma.net: Visma Connect and the ERP API on one port.
    `with VismaNetSandbox(clock=clock) as sandbox: ... sandbox.url ...`"""

    thread_name = "visma-net-sandbox"
    handler = _Handler

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock = utc_now,
        seed: int = 0,
        faults: Faults | None = None,
    ) -> None:
        super().__init__(SandboxState(scenario or demo_scenario(), clock=clock, seed=seed, faults=faults or Faults()),
                         host=host, port=port)

    def dispatch(self, request: Request) -> Reply:
        return dispatch(self.state, request)


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

    def describe() -> Iterator[str]:
        yield f"Visma.net sandbox ({args.scenario}) listening on {sandbox.url}; client_id {SANDBOX_CLIENT_ID}"
        for company in sandbox.state.companies.values():
            yield (f"  company {company.company_id} ({company.name}): tenant_id {company.tenant_id}, "
                   f"{len(company.customers)} customers")

    return serve(sandbox, describe)
