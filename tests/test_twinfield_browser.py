"""Headless Chromium: an operator connects a Twinfield environment from the console, through the sign-in page of
the Twinfield sandbox that `statuspage serve` started, and sees its connection user and the office out of reach."""

import pytest
from browser_helpers import browser_fixture, quiet_server_fixture, sign_in_to_console  # noqa: F401 (fixtures)
from twinfield_helpers import JANSEN_ENVIRONMENT


@pytest.fixture
def config_file(tmp_path):
    """The test configuration with a Twinfield environment; without a base_url the service starts its sandbox."""
    from conftest import TEST_CONFIG

    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + JANSEN_ENVIRONMENT)
    return path


def test_an_operator_connects_twinfield_and_sees_which_office_is_out_of_reach(quiet_server, browser) -> None:
    server = quiet_server
    page = browser.new_page()
    sign_in_to_console(page, server)
    page.get_by_role("link", name="Connections").click()
    jansen = page.locator('article[data-environment="jansen-twinfield"]')
    assert "Not connected." in jansen.inner_text()

    jansen.get_by_role("button", name="Connect to Twinfield").click()
    page.wait_for_url("**/auth/authentication/connect/authorize**")  # at (the sandbox of) Twinfield's identity server
    page.get_by_label("Petra Jansen (PJANSEN, JANSEN)").check()
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{server}/console/connections?connected=jansen-twinfield")

    confirmation = page.get_by_role("status").inner_text()
    assert "Jansen Groep is now connected and runs under Petra Jansen (PJANSEN)" in confirmation
    assert "cannot reach Jansen Verhuur B.V. (NLA203)" in confirmation
    jansen = page.locator('article[data-environment="jansen-twinfield"]')
    assert jansen.locator(".connection-user").inner_text() == "Petra Jansen"
    assert jansen.locator('tr[data-administration="NLA203"]').inner_text().endswith(
        "cannot reach: bookings here are refused")
    assert jansen.locator('tr[data-administration="NLA201"]').inner_text().endswith("reachable")
