"""The sandbox itself: started from the command line, steered over HTTP, deterministic under a seed, and
speaking Exact Online's protocol details that the connector tests do not look at directly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port
from exact_online_helpers import (  # noqa: F401 (fixtures)
    REDIRECT_URI,
    FakeTime,
    anyio_backend_fixture,
    authorization_code,
    connected,
    control,
    fake_time_fixture,
    invoice,
    ledger,
    plain_http,
    sandbox_fixture,
)

from integrations.exact_online.sandbox import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    ExactOnlineSandbox,
    Faults,
    demo_scenario,
)

pytestmark = pytest.mark.anyio

RATE_LIMIT_HEADERS = {"x-ratelimit-minutely-limit", "x-ratelimit-minutely-remaining", "x-ratelimit-minutely-reset",
                      "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"}


def bearer(sandbox: ExactOnlineSandbox, username: str) -> dict[str, str]:
    answer = plain_http.post(f"{sandbox.url}/api/oauth2/token", data={
        "grant_type": "authorization_code", "code": authorization_code(sandbox, username),
        "redirect_uri": REDIRECT_URI, "client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_the_sandbox_runs_from_the_command_line_on_the_port_it_is_given() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "integrations.exact_online.sandbox", "--port", str(port), "--seed", "3",
         "--accounts", "1234"],
        cwd=Path(__file__).parent.parent, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        assert f"listening on http://127.0.0.1:{port}" in process.stdout.readline()
        scenario = plain_http.get(f"http://127.0.0.1:{port}/_sandbox/scenario").json()
        assert scenario["name"] == "demo"
        assert {e["name"]: e["connection_user"] for e in scenario["environments"]} == {
            "Bakkerij De Vries": "j.devries", "Jansen Groep": "p.jansen", "Groen Hoveniers": "m.groen"}
        assert plain_http.get(f"http://127.0.0.1:{port}/_sandbox/data/301").json()["rows"]["accounts"] == 1234
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0


def test_fault_modes_are_set_and_read_back_over_http(fake_time: FakeTime) -> None:
    with ExactOnlineSandbox(clock=fake_time, faults=Faults(latency_ms=5)) as sandbox:
        changed = control(sandbox, "faults", {"fail_next": 2, "misroute_bug": True, "minutely_limit": 7})
        assert control(sandbox, "faults") == changed
        assert (changed["latency_ms"], changed["fail_next"], changed["misroute_bug"], changed["minutely_limit"]) == (
            5, 2, True, 7)
        refused = plain_http.post(f"{sandbox.url}/_sandbox/faults", json={"fail_next": "many"})
        assert refused.status_code == 400 and control(sandbox, "faults") == changed


async def test_the_same_seed_gives_the_same_tokens_entries_and_failures() -> None:
    async def run(seed: int) -> tuple[list[dict], list[int], dict[str, str]]:
        time = FakeTime()
        with ExactOnlineSandbox(demo_scenario(), clock=time, seed=seed, faults=Faults(fail_rate=0.3)) as sandbox:
            async with await connected(sandbox, time, "j.devries") as exact:
                for n, division in enumerate(["101", "102", "101", "102"]):
                    await exact.execute(invoice(f"inv-{n}", division))
            statuses = [x["status"] for x in control(sandbox, "traffic")["exchanges"]]
            return ledger(sandbox), statuses, bearer(sandbox, "j.devries")

    first, again, other = await run(11), await run(11), await run(12)
    assert first == again
    assert 503 in first[1], "a rate of 0.3 struck at least once"
    assert first[0] != other[0] and first[1] != other[1]


def test_every_api_answer_carries_the_rate_limits(sandbox: ExactOnlineSandbox) -> None:
    headers = bearer(sandbox, "p.jansen")
    answers = [
        plain_http.get(f"{sandbox.url}/api/v1/current/Me", headers=headers),
        plain_http.get(f"{sandbox.url}/api/v1/201/system/Divisions", headers=headers),
        plain_http.get(f"{sandbox.url}/api/v1/203/system/Divisions", headers=headers),
        plain_http.get(f"{sandbox.url}/api/v1/201/crm/Accounts", headers=headers,
                       params={"$filter": "Nickname eq 'A'"}),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 403, 400]
    assert all(set(answer.headers) >= RATE_LIMIT_HEADERS for answer in answers)
    assert answers[2].headers["Reason"] == "NoDivisionAccess"
    assert answers[2].json()["error"]["message"]["value"] == "You have no access to division 203."
    assert answers[3].json()["error"]["message"]["value"] == "Property Nickname does not exist."


def test_without_prefer_return_representation_the_created_entry_comes_back_mostly_null(
    sandbox: ExactOnlineSandbox,
) -> None:
    headers = bearer(sandbox, "p.jansen")
    body = {"Journal": "70", "Supplier": "s-1", "YourRef": "inv-1",
            "PurchaseEntryLines": [{"GLAccount": "7000", "AmountFC": 10.0}]}
    url = f"{sandbox.url}/api/v1/201/purchaseentry/PurchaseEntries"
    plain = plain_http.post(url, json=body, headers=headers)
    full = plain_http.post(url, json={**body, "YourRef": "inv-2"},
                           headers={**headers, "Prefer": "return=representation"})
    assert plain.status_code == 201
    echoed = plain.json()["d"]
    assert {name: echoed[name] for name in ("Journal", "Supplier", "YourRef", "EntryNumber", "Division",
                                            "AmountFC", "Description")} == {
        "Journal": "70", "Supplier": "s-1", "YourRef": "inv-1", "EntryNumber": None, "Division": None,
        "AmountFC": None, "Description": None}
    assert plain.headers["Location"] == (
        f"{sandbox.url}/api/v1/201/purchaseentry/PurchaseEntries(guid'{echoed['EntryID']}')")
    assert full.status_code == 201
    stored = full.json()["d"]
    assert (stored["YourRef"], stored["Division"], stored["AmountFC"]) == ("inv-2", 201, 10.0)
    assert stored["EntryNumber"] == ledger(sandbox)[1]["entry_number"]
    assert plain.headers["Location"].startswith(f"{sandbox.url}/api/v1/201/purchaseentry/PurchaseEntries(guid'")


def test_the_sign_in_page_only_serves_known_apps(sandbox: ExactOnlineSandbox) -> None:
    query = {"client_id": "someone-else", "redirect_uri": REDIRECT_URI, "response_type": "code", "state": "s"}
    assert plain_http.get(f"{sandbox.url}/api/oauth2/auth", params=query).status_code == 400
    page = plain_http.get(f"{sandbox.url}/api/oauth2/auth", params={**query, "client_id": SANDBOX_CLIENT_ID})
    assert page.status_code == 200
    assert '<button type="submit">Authorize</button>' in page.text and "Petra Jansen (p.jansen)" in page.text
