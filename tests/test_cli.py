"""The `statuspage` command's subcommands that start things."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
from conftest import free_port


@contextlib.contextmanager
def sandbox_command(integration: str, port: int) -> Iterator[str]:
    """`statuspage sandbox INTEGRATION --port PORT` in a process of its own; yields its first line, then stops it."""
    process = subprocess.Popen([sys.executable, "-m", "statuspage", "sandbox", integration, "--port", str(port)],
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def test_the_exact_online_sandbox_runs_from_the_command_line(tmp_path) -> None:
    port = free_port()
    with sandbox_command("exact-online", port) as first_line:
        assert first_line.startswith(f"Exact Online sandbox (demo) listening on http://127.0.0.1:{port}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/oauth2/auth?client_id=sandbox-client"
                                   "&redirect_uri=http://x/cb&response_type=code&state=s")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert answer.status_code == 200 and "Petra Jansen" in answer.text


def test_the_visma_net_sandbox_runs_from_the_command_line() -> None:
    port = free_port()
    with sandbox_command("visma-net", port) as first_line:
        assert first_line.startswith(f"Visma.net sandbox (demo) listening on http://127.0.0.1:{port}")
        # The line is printed once the socket is bound: the scenario answers at once.
        scenario = httpx.get(f"http://127.0.0.1:{port}/_sandbox/scenario").json()
        assert [company["company_id"] for company in scenario["companies"]] == ["1896329"]
        token = httpx.post(f"http://127.0.0.1:{port}/connect/token", data={
            "grant_type": "client_credentials", "client_id": scenario["client_ids"][0], "client_secret": "wrong",
            "scope": "vismanet_erp_service_api:read", "tenant_id": scenario["companies"][0]["tenant_id"]})
        assert token.status_code == 400 and token.json()["error"] == "invalid_client"
