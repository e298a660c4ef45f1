"""The sandbox as a server: on a thread inside a test or the demo, or in the foreground from the command line.

    python -m integrations.twinfield.sandbox --port 8091 [--seed 7] [--scenario demo]
"""

from __future__ import annotations

from collections.abc import Sequence

from integrations.base import Clock
from integrations.sandboxes.server import ScenarioSandbox, argument_parser, serve
from integrations.twinfield.sandbox import control, oauth, services
from integrations.twinfield.sandbox.faults import Faults
from integrations.twinfield.sandbox.messages import Reply, Request, text_reply
from integrations.twinfield.sandbox.scenario import SANDBOX_CLIENT_ID, SCENARIOS, Scenario, demo_scenario
from integrations.twinfield.sandbox.state import SandboxState

CONNECT = "/auth/authentication/connect/"


class TwinfieldSandbox(ScenarioSandbox[SandboxState, Scenario, Faults]):
    """A local Twinfield: identity server and clusters on one port.
    `with TwinfieldSandbox(clock=clock) as sandbox: ... sandbox.url ...` (the `login_url` of an `OAuthApp`)."""

    thread_name = "twinfield-sandbox"

    def new_state(self, scenario: Scenario | None, *, faults: Faults | None, clock: Clock, seed: int) -> SandboxState:
        return SandboxState(scenario or demo_scenario(), clock=clock, seed=seed, faults=faults or Faults())

    def dispatch(self, request: Request) -> Reply:
        state = self.state
        # One request at a time changes the sandbox; waits (latency, hangs) happen after, outside the lock.
        with state.lock:
            if request.path.startswith("/clusters/"):
                return services.handle(state, request)
            if request.path == CONNECT + "authorize":
                return oauth.authorize(state, request) if request.method == "POST" else oauth.sign_in_page(state, request)
            if request.path == CONNECT + "token" and request.method == "POST":
                return oauth.token(state, request)
            if request.path == CONNECT + "accesstokenvalidation" and request.method == "GET":
                return oauth.validation(state, request)
            if request.path == CONNECT + "userinfo" and request.method == "GET":
                return oauth.userinfo(state, request)
            if request.path.startswith("/_sandbox/"):
                return control.handle(state, request)
            return text_reply(404, "Not found.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argument_parser("python -m integrations.twinfield.sandbox",
                             "A local server speaking Twinfield's OpenID Connect and SOAP.", SCENARIOS,
                             seed_help="same seed, same tokens, numbers and master data")
    args = parser.parse_args(argv)
    sandbox = TwinfieldSandbox(SCENARIOS[args.scenario](), host=args.host, port=args.port, seed=args.seed)
    return serve(sandbox, f"Twinfield sandbox ({args.scenario})", SANDBOX_CLIENT_ID, [
        f"  {environment.name}: connection user {environment.connection_user}, offices {', '.join(environment.offices)}"
        for environment in sandbox.state.environments])
