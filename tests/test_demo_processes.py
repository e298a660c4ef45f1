"""The README's demo as real processes: `statuspage serve` with the sample configuration starts each sandbox once,
however many workers serve, and records where they (and serve itself) listen, so that `statuspage probe run`
beside it reaches the same sandboxes and the same page. Each serve runs in its own session on a free 127.0.0.1
port and is killed afterwards."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from conftest import free_port, run_statuspage

import statuspage

SANDBOX_STARTED = "sandbox (demo scenario) listening on"
DEMO_CONNECTIONS = 5  # Exact Online three times, Twinfield and Visma.net once each


def quick_demo(tmp_path) -> Path:
    """The sample configuration, its demo handing in an action every 0.2 s instead of every 5 s."""
    path = tmp_path / "quick-demo.toml"
    if not path.exists():
        sample = (Path(statuspage.__file__).parent / "sample-config.toml").read_text()
        assert "seconds_between_actions = 5\n" in sample
        path.write_text(sample.replace("seconds_between_actions = 5\n", "seconds_between_actions = 0.2\n"))
    return path


class Serve:
    """`statuspage serve` with the sample configuration (the demo on), its output collected as it comes."""

    def __init__(self, tmp_path, *args: str) -> None:
        self.port = free_port()
        self.db = str(tmp_path / "statuspage.db")
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "statuspage", "serve", "--port", str(self.port), "--db", self.db, *args,
             "--config", str(quick_demo(tmp_path))],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, check, what: str, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():
                return
            assert self.process.poll() is None, f"serve ended: {self.lines[-20:]}"
            time.sleep(0.1)
        raise AssertionError(f"gave up waiting for {what}: {self.lines[-20:]}")

    def query(self, sql: str) -> list[tuple]:
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def connected(self) -> int:
        try:
            return self.query("SELECT count(*) FROM connections WHERE user_name IS NOT NULL")[0][0]
        except sqlite3.OperationalError:  # not made (or migrated) yet
            return 0

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # Ctrl-C, as the newcomer stops it
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def test_probe_run_beside_the_running_demo_reaches_its_sandboxes_and_its_page(tmp_path) -> None:
    serve = Serve(tmp_path)
    try:
        serve.wait_for(lambda: serve.connected() == DEMO_CONNECTIONS, "the demo's connections")
        # No --port: the probe finds where this database's serve listens.
        for probe in ("exact-online-api", "twinfield-api", "exact-online-rights", "twinfield-rights", "public-api"):
            result = run_statuspage("probe", "run", probe, "--db", serve.db)
            assert result.returncode == 0, (probe, result.stdout, result.stderr)
            assert result.stdout.startswith(f"{probe}: passed in ")
    finally:
        serve.stop()

    # With serve stopped, a probe that needs its sandbox cannot run: one line says why and what to do.
    result = run_statuspage("probe", "run", "exact-online-api", "--db", serve.db)
    assert result.returncode == 2
    assert result.stderr == (
        f"statuspage: error: probe exact-online-api calls Exact Online, which runs against the demo's sandbox, and no "
        f"'statuspage serve' runs one on {serve.db} now; start serve first, or set base_url under "
        f"[integrations.<key>] to reach the real system\n")
    assert serve.query("SELECT count(*) FROM listeners") == [(0,)]  # stopped with Ctrl-C, it forgot them


def test_serve_with_two_workers_starts_each_demo_sandbox_once(tmp_path) -> None:
    serve = Serve(tmp_path, "--workers", "2")
    try:
        serve.wait_for(lambda: sum("Started worker-" in line for line in serve.lines) == 2
                       and serve.connected() == DEMO_CONNECTIONS,
                       "both workers and the demo's connections")
        started = [line for line in serve.lines if SANDBOX_STARTED in line]
        assert [line.split(" INFO ")[1].split(" sandbox")[0] for line in started] == [
            "statuspage.sandboxes: Exact Online", "statuspage.sandboxes: Twinfield", "statuspage.sandboxes: Visma.net Financials"]
        names = sorted(name for (name,) in serve.query("SELECT name FROM listeners"))
        assert names == ["sandbox:exact-online", "sandbox:twinfield", "sandbox:visma-net", "serve"]
    finally:
        serve.stop()


def test_the_demo_run_again_on_its_database_reconnects_to_its_fresh_sandboxes_and_books_on(tmp_path) -> None:
    """The README's command a second time: the sandboxes are new and know none of the stored tokens."""
    first = Serve(tmp_path)
    try:
        first.wait_for(lambda: first.connected() == DEMO_CONNECTIONS, "the first run's connections")
    finally:
        first.stop()
    before = first.query("SELECT environment, integration, connected_at FROM connections ORDER BY id")
    last_action = first.query("SELECT coalesce(max(id), 0) FROM actions")[0][0]

    second = Serve(tmp_path)

    def booked_since() -> set[str]:
        rows = second.query(f"SELECT DISTINCT integration FROM actions WHERE id > {last_action} AND state = 'done'")
        return {integration for (integration,) in rows}

    def mirrored_again() -> int:
        [(visma,)] = second.query("SELECT url FROM listeners WHERE name = 'sandbox:visma-net'") or [(None,)]
        if visma is None:
            return 0
        customers = httpx.get(f"{visma}/_sandbox/companies/1896329/customers").json()
        return len({c["accountReference"] for c in customers if c["accountReference"]})

    try:
        second.wait_for(lambda: booked_since() >= {"exact-online", "twinfield"},  # the mirror writes too
                        "actions booked into both systems after the restart")
        # The fresh Visma.net sandbox knows none of the customers the first run inserted: the mirror fills it again.
        second.wait_for(lambda: mirrored_again() >= 25, "Jansen's relations in the fresh Visma.net sandbox")
    finally:
        second.stop()
    after = second.query("SELECT environment, integration, connected_at FROM connections ORDER BY id")
    assert [row[:2] for row in after] == [row[:2] for row in before]
    assert all(new[2] > old[2] for old, new in zip(before, after, strict=True))  # every one connected again
    refused = second.query(f"SELECT count(*) FROM actions WHERE id > {last_action} AND error LIKE '%invalid_grant%'")
    assert refused == [(0,)]
    assert sum("reconnected to" in line for line in second.lines) == DEMO_CONNECTIONS
