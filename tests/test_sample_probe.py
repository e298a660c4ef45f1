"""The shipped probes of Exact Online's and Twinfield's APIs sign in as bookings do: each passes only on a 200
naming the signed-in user, and fails on a 401 (our credentials refused) and when there is nothing to sign in with
(issue 12: no sample condition passes on an error)."""

import re
import tomllib

import httpx
import pytest
from exact_online_service_helpers import (  # noqa: F401 (fixtures)
    DEMO_ENVIRONMENTS,
    connected_fixture,
    service_sandbox_fixture,
    settings_for,
)
from twinfield_helpers import JANSEN_ENVIRONMENT, authorization_code, control

from integrations.twinfield import sandbox as twinfield_sandbox
from statuspage.core.settings import SAMPLE_CONFIG
from statuspage.probes import conditions


def sample_probe_block(key: str) -> str:
    """The [[probes]] entry `key` of the shipped sample configuration, as text."""
    blocks = re.split(r"(?m)^(?=\[\[)", SAMPLE_CONFIG.read_text())
    return next(block for block in blocks if block.startswith("[[probes]]") and f'key = "{key}"' in block)


@pytest.fixture
def twinfield(clock):
    with twinfield_sandbox.TwinfieldSandbox(twinfield_sandbox.demo_scenario(), clock=clock, seed=3) as running:
        yield running


@pytest.fixture
def settings(tmp_path, sandbox, twinfield, monkeypatch):
    monkeypatch.setenv("STATUSPAGE_TWINFIELD_CLIENT_SECRET", twinfield_sandbox.SANDBOX_CLIENT_SECRET)
    return settings_for(tmp_path, sandbox, monkeypatch, DEMO_ENVIRONMENTS + JANSEN_ENVIRONMENT
                        + f'[integrations.twinfield]\nbase_url = "{twinfield.url}"\n'
                        + sample_probe_block("exact-online-api") + sample_probe_block("twinfield-api"), "probe.db")


def run(client, key: str):
    return client.blocking_portal.call(client.app.state.prober.run, key)


def test_without_a_connection_the_api_probe_fails_rather_than_passing_on_a_401(client) -> None:
    result = run(client, "exact-online-api")
    assert not result.success and "no environment is connected" in result.error


def test_the_api_probe_passes_signed_in_and_fails_on_401(connected, sandbox) -> None:
    client = connected
    assert run(client, "exact-online-api").success
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"expire_access_tokens": True})
    refused = run(client, "exact-online-api")
    assert not refused.success
    assert [r.description for r in refused.results if not r.success][0] == "[STATUS] (401) == 200"


def test_the_twinfield_api_probe_passes_signed_in_and_fails_on_401(client, twinfield) -> None:
    assert "no environment is connected to Twinfield" in run(client, "twinfield-api").error
    link = client.app.state.links["twinfield"]
    client.blocking_portal.call(link.connect, "jansen-twinfield",
                                authorization_code(twinfield, "PJANSEN", redirect_uri=link.redirect_uri), "test")
    credits_spent = web_service_calls(twinfield)
    signed_in = run(client, "twinfield-api")
    assert signed_in.success
    subject = twinfield.state.users["PJANSEN"].subject
    assert [r.description for r in signed_in.results][:2] == ["[STATUS] (200) == 200", f'[BODY].sub ("{subject}") != ""']
    control(twinfield, "faults", {"expire_access_tokens": True})
    refused = run(client, "twinfield-api")
    assert not refused.success
    assert [r.description for r in refused.results if not r.success][0] == "[STATUS] (401) == 200"
    assert web_service_calls(twinfield) == credits_spent  # the identity server only: no credits went on it


def web_service_calls(twinfield) -> int:
    """Calls of Twinfield's web services (ProcessXml, Finder) so far: the ones that cost credits."""
    return sum(1 for x in control(twinfield, "traffic")["exchanges"] if x["service"] in ("ProcessXml", "Finder"))


def test_no_sample_http_condition_passes_on_an_error_status() -> None:
    """Every http probe in the sample demands a 2xx: an error answer cannot pass it."""
    sample = tomllib.loads(SAMPLE_CONFIG.read_text())
    for probe in (p for p in sample["probes"] if p["kind"] == "http"):
        observed = {"STATUS": 401, "RESPONSE_TIME": 5.0, "BODY": {"d": {"results": [{"UserID": "x"}]},
                                                              "status": {"indicator": "none"}}}
        results = [conditions.evaluate(conditions.parse(text), observed) for text in probe["conditions"]]
        assert not all(result.success for result in results), probe["key"]


def test_the_readme_counts_the_sample_probes_right() -> None:
    readme = (SAMPLE_CONFIG.parents[1] / "README.md").read_text()
    said = re.search(r"the sample ships (\w+)", readme)
    assert said is not None
    words = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
    assert words.index(said.group(1)) + 1 == len(tomllib.loads(SAMPLE_CONFIG.read_text())["probes"])
