"""`statuspage serve` on a port that is taken: one line saying so, a non-zero exit, and the one listening serves on.

granian binds with SO_REUSEPORT, so without a check of its own a second `serve` would start beside the first and
the kernel would split visitors between two databases. Real processes on free 127.0.0.1 ports, each in its own
session, killed afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
from conftest import free_port, run_statuspage


def serve(tmp_path, port: int, db: str) -> list[str]:
    return ["serve", "--port", str(port), "--db", str(tmp_path / db)]


def environ(name: str) -> dict[str, str]:
    return os.environ | {"STATUSPAGE_PAGE_NAME": name, "STATUSPAGE_DEMO": "false"}


def wait_for_page(port: int, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/v2/status.json").json()["page"]["name"]
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"nothing answered on port {port}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def test_a_second_serve_on_a_port_in_use_refuses_to_start_and_the_first_keeps_every_visitor(tmp_path) -> None:
    port = free_port()
    first = subprocess.Popen([sys.executable, "-m", "statuspage", *serve(tmp_path, port, "first.db")],
                             env=environ("FIRST INSTANCE"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        assert wait_for_page(port) == "FIRST INSTANCE"
        second = run_statuspage(*serve(tmp_path, port, "second.db"), env=environ("SECOND INSTANCE"))
        assert second.returncode == 2
        assert second.stderr == (f"statuspage: error: address already in use: something listens on 127.0.0.1:{port} "
                                 f"(another statuspage serve?); stop it, or choose another --port\n")
        # Every visitor still reaches the first one (the kernel would spread them over two listeners).
        names = {httpx.get(f"http://127.0.0.1:{port}/api/v2/status.json").json()["page"]["name"] for _ in range(20)}
        assert names == {"FIRST INSTANCE"}
        assert not (tmp_path / "second.db").exists()  # refused before it touched its database
    finally:
        stop(first)


def test_serve_on_a_port_another_program_holds_says_so_in_one_line(tmp_path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = run_statuspage(*serve(tmp_path, port, "x.db"), env=environ("X"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "address already in use" in result.stderr
    assert "Traceback" not in result.stderr and "backtrace" not in result.stderr
