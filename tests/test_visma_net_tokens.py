"""Visma Connect's client-credentials tokens: one per company's tenant, asked for again before it expires (there
is no refresh token), replaced once when the API refuses it, and refusals of the app kept in Visma's words."""

from __future__ import annotations

import pytest
from visma_net_helpers import (  # noqa: F401 (fixtures)
    JANSEN,
    FakeTime,
    anyio_backend_fixture,
    client_for,
    control,
    exchanges,
    fake_time_fixture,
    sandbox_fixture,
)

from integrations.base import AuthorizationError
from integrations.visma_net.sandbox import VismaNetSandbox

pytestmark = pytest.mark.anyio


def calls(sandbox: VismaNetSandbox) -> list[tuple[str, int]]:
    return [(x["path"], x["status"]) for x in exchanges(sandbox)]


async def test_one_token_serves_every_call_of_its_hour(sandbox: VismaNetSandbox, fake_time: FakeTime) -> None:
    async with client_for(sandbox, fake_time, refresh_margin=60) as visma:
        for _ in range(3):
            await visma.list_customers(JANSEN)
            fake_time.advance(1000)
    assert calls(sandbox) == [("/connect/token", 200)] + [("/v1/customer", 200)] * 3


async def test_a_token_is_renewed_refresh_margin_before_it_expires_so_no_call_meets_a_401(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    async with client_for(sandbox, fake_time, refresh_margin=60) as visma:
        await visma.list_customers(JANSEN)
        fake_time.advance(3539)  # 61 s of life left: still used
        await visma.list_customers(JANSEN)
        fake_time.advance(2)  # 59 s left: inside the margin, renewed first
        await visma.list_customers(JANSEN)
    assert calls(sandbox) == [("/connect/token", 200), ("/v1/customer", 200), ("/v1/customer", 200),
                              ("/connect/token", 200), ("/v1/customer", 200)]


async def test_a_token_the_api_refuses_is_replaced_once_and_the_call_repeated(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    async with client_for(sandbox, fake_time) as visma:
        await visma.list_customers(JANSEN)
        control(sandbox, "faults", {"expire_access_tokens": True})
        assert await visma.list_customers(JANSEN) == []
    assert calls(sandbox) == [("/connect/token", 200), ("/v1/customer", 200), ("/v1/customer", 401),
                              ("/connect/token", 200), ("/v1/customer", 200)]


async def test_the_token_request_names_the_tenant_and_the_service_scopes(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    async with client_for(sandbox, fake_time) as visma:
        await visma.tokens.access_token(JANSEN.tenant_id)
    granted = next(iter(sandbox.state.grants.values()))
    assert (granted.company_id, sorted(granted.scopes)) == ("1896329", [
        "vismanet_erp_service_api:create", "vismanet_erp_service_api:read", "vismanet_erp_service_api:update"])


async def test_a_wrong_secret_is_an_authorization_error_with_visma_connects_reason(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    async with client_for(sandbox, fake_time, secret="wrong") as visma:
        with pytest.raises(AuthorizationError) as refused:
            await visma.list_customers(JANSEN)
    assert refused.value.reason == "invalid_client"
    assert calls(sandbox) == [("/connect/token", 400)]
