"""How soon the kept static copy follows a change (issue 15: "kept current within a second"; run by hand, not a
test).

Starts `statuspage serve --workers 2 --export-dir DIR` on a fresh database in a temporary folder, then, one change
at a time, opens or updates an incident through the API and times until the exported summary.json holds different
bytes. Prints the delays' median, p95 and maximum against the target (maximum under 1 s).

    .venv/bin/python bench/export.py
    .venv/bin/python bench/export.py --changes 40 --workers 2
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from statuspage.config import load_settings  # noqa: E402
from statuspage.core import storage  # noqa: E402
from statuspage.core.operation import Actor  # noqa: E402
from statuspage.incidents import operations  # noqa: E402
from statuspage.page.snapshot import component_definitions  # noqa: E402

CONFIG = """
[demo]
enabled = false

[[components]]
key = "exact-online"
name = "Exact Online"
"""
TOKEN = "sp_bench-export-operator"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check, seconds: float = 60.0) -> float:  # noqa: ANN001
    """Poll `check` until true; the seconds that took. Raises TimeoutError after `seconds`."""
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        try:
            if check():
                return time.perf_counter() - began
        except (httpx.TransportError, OSError):
            pass
        time.sleep(0.005)
    raise TimeoutError(f"nothing after {seconds} s")


def prepare(folder: Path, port: int) -> dict[str, str]:
    config = folder / "statuspage.toml"
    config.write_text(CONFIG)
    environ = {"STATUSPAGE_DB": str(folder / "export.db"), "STATUSPAGE_CONFIG": str(config),
               "STATUSPAGE_PORT": str(port), "STATUSPAGE_PAGE_URL": f"http://127.0.0.1:{port}"}
    settings = load_settings(config, environ=environ)
    now = datetime.now(UTC)
    db = storage.open_database(settings.database.path)
    with storage.write_transaction(db):
        storage.sync_components(db, component_definitions(settings), now)
        operations.create_token(db, settings, Actor("bench"), now, "bench-operator", "operator", TOKEN)
    db.close()
    return environ


def measure(changes: int, workers: int) -> list[float]:
    with tempfile.TemporaryDirectory() as temporary:
        folder, port = Path(temporary), free_port()
        environ, kept = prepare(folder, port), folder / "kept"
        base = f"http://127.0.0.1:{port}"
        service = subprocess.Popen([sys.executable, "-m", "statuspage", "serve", "--workers", str(workers),
                                    "--export-dir", str(kept)], env=os.environ | environ,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        summary = kept / "api/v2/summary.json"
        try:
            wait_until(lambda: httpx.get(f"{base}/api/v2/status.json").status_code == 200)
            wait_until(summary.exists)
            delays, incident = [], None
            for n in range(changes):
                before = summary.read_bytes()
                if incident is None or n % 5 == 0:
                    answer = httpx.post(f"{base}/api/v1/incidents", headers=OPERATOR, json={
                        "name": f"Bookings slow {n}", "message": "Looking.", "status": "investigating",
                        "impact": "minor", "components": {"exact-online": "degraded_performance"}})
                    incident = answer.json()["id"]
                else:
                    answer = httpx.post(f"{base}/api/v1/incidents/{incident}/updates", headers=OPERATOR,
                                        json={"status": "identified", "message": f"Update {n}."})
                answer.raise_for_status()
                delays.append(wait_until(lambda before=before: summary.read_bytes() != before))
        finally:
            os.killpg(service.pid, signal.SIGKILL)
            service.wait()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=20, help="incidents opened or updated, one after another")
    parser.add_argument("--workers", type=int, default=2, help="serve --workers")
    args = parser.parse_args()
    delays = sorted(measure(args.changes, args.workers))
    p95 = delays[max(0, round(0.95 * len(delays)) - 1)]
    print(f"kept copy after a change ({len(delays)} changes, {args.workers} workers): median "
          f"{statistics.median(delays) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms "
          f"(target: max under 1000 ms) {'MET' if delays[-1] < 1.0 else 'NOT MET'}")


if __name__ == "__main__":
    main()
