"""The Twinfield sandbox on its own: the protocol details the connector relies on, and running it from the
command line."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest
from lxml import etree
from twinfield_helpers import (  # noqa: F401 (fixtures)
    REDIRECT_URI,
    FakeTime,
    anyio_backend_fixture,
    connected,
    control,
    fake_time_fixture,
    plain_http,
    sandbox_fixture,
)

from integrations.base import RemoteError
from integrations.twinfield import soap
from integrations.twinfield.sandbox import SANDBOX_CLIENT_ID, TwinfieldSandbox

pytestmark = pytest.mark.anyio


def test_the_sign_in_page_insists_on_twinfields_scopes_and_a_nonce(sandbox: TwinfieldSandbox) -> None:
    base = {"client_id": SANDBOX_CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code", "state": "s"}
    url = f"{sandbox.url}/auth/authentication/connect/authorize"
    no_scope = plain_http.get(url, params={**base, "scope": "openid", "nonce": "n"})
    no_nonce = plain_http.get(url, params={**base, "scope": "openid twf.organisationUser"})
    fine = plain_http.get(url, params={**base, "scope": "openid twf.organisationUser", "nonce": "n"})
    assert (no_scope.status_code, no_nonce.status_code, fine.status_code) == (400, 400, 200)
    assert "Missing scope: twf.organisationUser." in no_scope.text
    assert all(f'value="{code}"' in fine.text for code in ("JDEVRIES", "PJANSEN", "ABAKKER", "MGROEN"))


async def test_a_call_without_an_office_gets_twinfields_fault(sandbox: TwinfieldSandbox, fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        session = await twinfield._client.session()  # noqa: SLF001 (a hand-made call, as a careless client would)
    body = soap.envelope(session.access_token, None, soap.process_xml_body(etree.Element("columns", code="200")))
    answer = plain_http.post(f"{session.cluster_url}{soap.PROCESS_XML_PATH}", content=body,
                             headers={"SOAPAction": soap.soap_action("ProcessXmlString")})
    with pytest.raises(soap.SoapFault) as fault:
        soap.read_body(answer.content)
    assert answer.status_code == 500
    assert (fault.value.code, fault.value.message) == ("soap:Client",
                                                       "Toegang geweigerd. Company ontbreekt in request header.")


async def test_calls_sent_to_another_organisations_cluster_are_refused(sandbox: TwinfieldSandbox,
                                                                       fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        session = await twinfield._client.session()  # noqa: SLF001
    assert session.cluster_url == f"{sandbox.url}/clusters/eu2"
    body = soap.envelope(session.access_token, "NLA201", soap.finder_body("OFF", "*", 0, 1, 100, []))
    answer = plain_http.post(f"{sandbox.url}/clusters/eu1{soap.FINDER_PATH}", content=body)
    with pytest.raises(soap.SoapFault, match="JANSEN is not on this cluster"):
        soap.read_body(answer.content)


async def test_the_finders_own_error_message_is_kept(sandbox: TwinfieldSandbox, fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        with pytest.raises(RemoteError) as refused:
            await twinfield._client.search("NLA201", "DIM")  # noqa: SLF001 (no dimtype option)
    assert refused.value.message == "Option dimtype is mandatory."


def test_master_data_is_generated_from_the_seed() -> None:
    def suppliers(seed: int) -> list[str]:
        sandbox = TwinfieldSandbox(seed=seed)
        return [d.name for d in sandbox.state.ledger.dimensions_of("NLA201", "CRD")]

    assert suppliers(7) == suppliers(7)
    assert suppliers(7) != suppliers(8)
    assert len(suppliers(7)) == 26  # 25 visible and one hidden


def test_the_sandbox_runs_from_the_command_line_on_the_port_asked() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "integrations.twinfield.sandbox", "--port", str(port)],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert first_line.startswith(f"Twinfield sandbox (demo) listening on http://127.0.0.1:{port};")
        deadline = time.monotonic() + 5
        while True:
            try:
                scenario = httpx.get(f"http://127.0.0.1:{port}/_sandbox/scenario", timeout=1).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert [e["connection_user"] for e in scenario["environments"]] == ["JDEVRIES", "PJANSEN", "MGROEN"]
        assert [o["code"] for o in scenario["offices"] if o["organisation"] == "JANSEN"] == [
            "NLA201", "NLA202", "NLA203"]
        petra = next(u for u in scenario["users"] if u["code"] == "PJANSEN")
        assert (petra["offices"], petra["default_office"]) == (["NLA201", "NLA202"], "NLA201")
    finally:
        process.terminate()
        process.wait(timeout=5)
