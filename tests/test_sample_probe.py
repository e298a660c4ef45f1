"""The shipped probe of Exact Online's API signs in as bookings do: it passes only on a 200 naming the
signed-in user, and fails on a 401 (our credentials refused) and when there is nothing to sign in with
(issue 12: no sample condition passes on an error)."""

import re
import tomllib

import httpx
import pytest
from conftest import TEST_CONFIG
from test_outbox import DEMO_ENVIRONMENTS, connected, sandbox  # noqa: F401 (fixtures)

from integrations.exact_online.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from statuspage.config import load_settings
from statuspage.core.settings import SAMPLE_CONFIG
from statuspage.probes import conditions


def sample_probe_block(key: str) -> str:
    """The [[probes]] entry `key` of the shipped sample configuration, as text."""
    blocks = re.split(r"(?m)^(?=\[\[)", SAMPLE_CONFIG.read_text())
    return next(block for block in blocks if block.startswith("[[probes]]") and f'key = "{key}"' in block)


@pytest.fixture
def settings(tmp_path, sandbox, monkeypatch):  # noqa: F811
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + DEMO_ENVIRONMENTS + sample_probe_block("exact-online-api"))
    monkeypatch.setenv("STATUSPAGE_EXACT_CLIENT_SECRET", SANDBOX_CLIENT_SECRET)
    return load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "probe.db"),
                                        "STATUSPAGE_EXACT_BASE_URL": sandbox.url,
                                        "STATUSPAGE_EXACT_CLIENT_ID": SANDBOX_CLIENT_ID})


def run(client, key: str):
    return client.blocking_portal.call(client.app.state.prober.run, key)


def test_without_a_connection_the_api_probe_fails_rather_than_passing_on_a_401(client) -> None:
    result = run(client, "exact-online-api")
    assert not result.success and "no environment is connected" in result.error


def test_the_api_probe_passes_signed_in_and_fails_on_401(connected, sandbox) -> None:  # noqa: F811
    client = connected
    assert run(client, "exact-online-api").success
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"expire_access_tokens": True})
    refused = run(client, "exact-online-api")
    assert not refused.success
    assert [r.description for r in refused.results if not r.success][0] == "[STATUS] (401) == 200"


def test_no_sample_http_condition_passes_on_an_error_status() -> None:
    """Every http probe in the sample demands a 2xx: an error answer cannot pass it."""
    sample = tomllib.loads(SAMPLE_CONFIG.read_text())
    for probe in (p for p in sample["probes"] if p["kind"] == "http"):
        observed = {"STATUS": 401, "RESPONSE_TIME": 5.0, "BODY": {"d": {"results": [{"UserID": "x"}]},
                                                              "status": {"indicator": "none"}}}
        results = [conditions.evaluate(conditions.parse(text), observed) for text in probe["conditions"]]
        assert not all(result.success for result in results), probe["key"]
