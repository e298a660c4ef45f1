"""Log lines say their time in UTC, and say that it is UTC: in the formatter, and in what `serve` prints."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

from conftest import free_port

from statuspage.core.logs import LOG_FORMAT, UtcFormatter

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC"


def test_a_log_time_is_utc_whatever_the_machines_zone(monkeypatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Amsterdam")
    time.tzset()
    try:
        record = logging.LogRecord("statuspage.demo", logging.INFO, __file__, 1, "connected", None, None)
        record.created = datetime(2026, 7, 1, 9, 30, 5, 250_000, tzinfo=UTC).timestamp()  # 11:30 in Amsterdam
        record.msecs = 250.0
        line = UtcFormatter(LOG_FORMAT).format(record)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert line == "2026-07-01 09:30:05.250 UTC INFO statuspage.demo: connected"


def test_serve_stamps_its_own_lines_and_granians_with_utc(tmp_path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "statuspage", "serve", "--port", str(port), "--db", str(tmp_path / "x.db")],
        env=os.environ | {"STATUSPAGE_DEMO": "false"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    lines: list[str] = []
    # Reading stops at the lease line; should it never come, the process is killed and reading ends.
    watchdog = threading.Timer(60, os.killpg, [process.pid, signal.SIGKILL])
    watchdog.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if "holds the lease" in line:
                break
    finally:
        watchdog.cancel()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    listening = next(line for line in lines if "Listening at" in line)
    assert re.fullmatch(f"{STAMP} INFO granian: Listening at: http://127.0.0.1:{port}", listening)
    lease = next(line for line in lines if "holds the lease" in line)
    assert re.fullmatch(f"{STAMP} INFO statuspage.background: background work: .* holds the lease and starts it", lease)
