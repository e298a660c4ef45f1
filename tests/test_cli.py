"""The `statuspage` command's subcommands that start things."""

import os
import signal
import subprocess
import sys
import time

import httpx
from conftest import free_port


def test_the_exact_online_sandbox_runs_from_the_command_line(tmp_path) -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "statuspage", "sandbox", "exact-online", "--port", str(port)],
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        first_line = process.stdout.readline()
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
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
