"""The Visma.net sandbox itself, spoken to over plain HTTP: it runs from the command line, keeps customers per
company (hand-made ones without a reference), and answers its hourly limit and filters as Visma documents them."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
from visma_net_helpers import (  # noqa: F401 (fixtures)
    JANSEN,
    FakeTime,
    control,
    fake_time_fixture,
    held,
    plain_http,
    sandbox_fixture,
    seed,
)

from integrations.visma_net.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, VismaNetSandbox

ROOT = Path(__file__).resolve().parent.parent


def token(sandbox: VismaNetSandbox, scope: str = "vismanet_erp_service_api:read") -> str:
    answer = plain_http.post(f"{sandbox.url}/connect/token", data={
        "grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET,
        "scope": scope, "tenant_id": JANSEN.tenant_id})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["expires_in"], answer.json()["token_type"]) == (3600, "Bearer")
    return str(answer.json()["access_token"])


def get(sandbox: VismaNetSandbox, bearer: str, path: str = "/v1/customer", **params: str) -> httpx.Response:
    return plain_http.get(f"{sandbox.url}{path}", params=params,
                          headers={"Authorization": f"Bearer {bearer}", "ipp-company-id": JANSEN.company_id})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_command_line_serves_the_demo_company_on_the_port_asked() -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "integrations.visma_net.sandbox", "--port", str(port)],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        company = process.stdout.readline().strip()
        scenario = plain_http.get(f"http://127.0.0.1:{port}/_sandbox/scenario").json()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert first == (f"Visma.net sandbox (demo) listening on http://127.0.0.1:{port}; "
                     f"client_id {SANDBOX_CLIENT_ID}")
    assert company == ("company 1896329 (Jansen Installatietechniek B.V.): "
                       "tenant_id 5f0c1e2a-7d3b-4c59-9a61-0b8e4f2d7c31, 3 customers")
    assert scenario["companies"] == [{"company_id": "1896329", "tenant_id": JANSEN.tenant_id,
                                      "name": "Jansen Installatietechniek B.V.", "customers": 3}]


def test_seeded_customers_without_a_reference_count_as_made_by_hand(sandbox: VismaNetSandbox) -> None:
    seed(sandbox, {"name": "Made by hand"}, {"name": "Mirrored", "reference": "EOL-7", "number": "7"})
    assert [(c["number"], c["name"], c["accountReference"], c["madeBy"]) for c in held(sandbox)] == [
        ("10000", "Made by hand", None, "hand"), ("7", "Mirrored", "EOL-7", "api")]


def test_past_the_hourly_limit_the_sandbox_answers_429_with_the_headers_and_retry_after(
    sandbox: VismaNetSandbox,
) -> None:
    control(sandbox, "faults", {"hourly_limit": 2})
    bearer = token(sandbox)
    answers = [get(sandbox, bearer, pageSize="10") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [{name: a.headers[name] for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
                                                "X-RateLimit-Policy")} for a in answers] == [
        {"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": "1790",
         "X-RateLimit-Policy": "4-fixed-window"} for remaining in ("1", "0", "0")]
    assert answers[2].headers["Retry-After"] == "1790"


def test_a_new_clock_hour_opens_a_new_window(sandbox: VismaNetSandbox, fake_time: FakeTime) -> None:
    control(sandbox, "faults", {"hourly_limit": 1})
    bearer = token(sandbox)
    assert get(sandbox, bearer).status_code == 200
    fake_time.advance(1790)
    answer = get(sandbox, bearer)
    assert (answer.status_code, answer.headers["X-RateLimit-Remaining"], answer.headers["X-RateLimit-Reset"]) == (
        200, "0", "3600")


def test_a_filter_without_its_condition_is_refused_in_vismas_error_shape(sandbox: VismaNetSandbox) -> None:
    answer = get(sandbox, token(sandbox), lastModifiedDateTime="2026-11-23")
    assert answer.status_code == 400
    assert answer.json()["ExceptionType"] == "IPPException"
    assert answer.json()["ExceptionMessage"] == ("lastModifiedDateTime needs a lastModifiedDateTimeCondition of >, "
                                                 ">=, < or <=, and a date as YYYY-MM-DD[ hh:mm:ss[.fff]].")


def test_a_token_without_the_create_scope_cannot_create(sandbox: VismaNetSandbox) -> None:
    answer = plain_http.post(f"{sandbox.url}/v1/customer", json={"name": {"value": "X"}},
                             headers={"Authorization": f"Bearer {token(sandbox)}"})
    assert (answer.status_code, answer.json()["ExceptionMessage"]) == (
        403, "The token lacks the scope vismanet_erp_service_api:create.")
    assert held(sandbox) == []
