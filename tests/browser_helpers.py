"""Shared by the browser tests: `statuspage serve` as a real process on loopback, Debian's chromium through
Playwright, and signing in to the console as an operator."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from conftest import TEST_CONFIG, FakeClock, Seeder, free_port, seed_bad_day
from exact_online_service_helpers import BOOKINGS_PAUSED, ENVIRONMENTS

from statuspage.core.operation import Actor
from statuspage.core.settings import Settings
from statuspage.incidents import operations

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic", "--disable-sync",
    "--disable-background-networking", "--disable-component-update",
]
OPERATOR_TOKEN = "sp_browser-operator"
CLIENT_TOKEN = "sp_browser-client"


# Fixtures for the test modules to import, named apart from their fixture names, so a test's parameter shadows
# no import.
@pytest.fixture(name="config_file")
def config_file_fixture(tmp_path: Path) -> Path:
    """The test configuration with an environment to connect; the service starts its Exact Online sandbox."""
    path = tmp_path / "statuspage.toml"
    # The server runs on the wall clock: no nightly sync may start by itself during a test.
    environments = re.sub(r'(\nname = "[^"]*"\n)', r'\1nightly_window = "00:00-00:00"\n', ENVIRONMENTS)
    path.write_text(TEST_CONFIG + environments + BOOKINGS_PAUSED)
    return path


def serve(settings: Settings, config_file: Path, seed_work: Callable[[Seeder, FakeClock], object]) -> Iterator[str]:
    """`statuspage serve` on a free loopback port over a database `seed_work(seeder, clock)` prepared, with an
    operator (OPERATOR_TOKEN) and the invoice product (CLIENT_TOKEN); yields its URL, stops it after."""
    now = FakeClock(datetime.now(UTC))
    seeder = Seeder(settings, now)
    seed_work(seeder, now)
    seeder(lambda db: operations.create_token(db, settings, Actor("test"), now(), "olga", "operator", OPERATOR_TOKEN))
    seeder(lambda db: operations.create_token(db, settings, Actor("test"), now(), "invoice-product", "client",
                                              CLIENT_TOKEN))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "statuspage", "serve", "--config", str(config_file),
         "--db", settings.database.path, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        # The browser reaches it over plain HTTP on loopback, as a developer would.
        env=os.environ | {"STATUSPAGE_PAGE_URL": f"http://127.0.0.1:{port}"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process)
        yield url
    finally:
        if process.poll() is None:  # one that stopped by itself is reported by wait_until_ready, not hidden here
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(name="server")
def server_fixture(settings: Settings, config_file: Path) -> Iterator[str]:
    """The served page on the morning of a bad day (conftest.seed_bad_day)."""
    yield from serve(settings, config_file, seed_bad_day)


@pytest.fixture(name="quiet_server")
def quiet_server_fixture(settings: Settings, config_file: Path) -> Iterator[str]:
    """The served page on a quiet day: nothing wrong, nothing switched off."""
    yield from serve(settings, config_file, lambda seeder, now: None)


def wait_until_ready(url: str, process: subprocess.Popen) -> None:
    """Wait until the service at `url` answers; fail at once if its process stopped."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server stopped: {process.stdout.read().decode()}")
        try:
            if httpx.get(f"{url}/api/v2/status.json", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not answer within 30 seconds")


@pytest.fixture(name="browser")
def browser_fixture() -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright; fails (not skips) where it is not installed."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package (scripts/test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def sign_in_to_console(page: Page, server: str) -> None:
    """Sign in to the console at `server` as the operator, through its form."""
    page.goto(f"{server}/console")
    page.get_by_label("API token").fill(OPERATOR_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server}/console")
