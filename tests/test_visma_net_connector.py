"""Visma.net as a registered integration: its connector, made by the registry's factory, against the sandbox over
HTTP. Connected with COMPANY=TENANT (client credentials), it writes mirror rows once each, finds an insert whose
answer was lost, refuses invoice actions, and passes every call through the service's call budget, fed by Visma's
hourly window."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from visma_net_helpers import (  # noqa: F401 (fixtures)
    JANSEN,
    FakeTime,
    anyio_backend_fixture,
    control,
    exchanges,
    fake_time_fixture,
    held,
    sandbox_fixture,
    seed,
)

from integrations.base import ActionKind, AuthorizationError, InvalidAction, InvoiceAction, RateLimited
from integrations.budget import CallClass
from integrations.call_budget import CallBudget, calling_as
from integrations.master_data import ReadOptions
from integrations.rate_limits import Window
from integrations.registry import ConnectorContext
from integrations.visma_net.connector import VismaNetConnector
from integrations.visma_net.integration import SECRET_VARIABLE, VISMA_NET, VismaNetIntegrationSettings
from integrations.visma_net.master_data import VismaNetMasterData
from integrations.visma_net.sandbox import SANDBOX_CLIENT_SECRET, VismaNetSandbox
from statuspage.core.installed import INSTALLED

pytestmark = pytest.mark.anyio

GRANT = f"{JANSEN.company_id}={JANSEN.tenant_id}"
TEN_O_CLOCK = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


class MemoryCredentials:
    """A connection's credentials in memory: what `statuspage` keeps in its database."""

    def __init__(self) -> None:
        self.secret: str | None = None

    async def load(self) -> str | None:
        return self.secret

    async def save(self, secret: str, guard: str) -> None:
        self.secret = secret

    async def replace(self, expected: str, secret: str, guard: str) -> bool:
        self.secret = secret
        return True

    async def claim_refresh(self) -> bool:
        return True

    async def release_refresh(self) -> None:
        pass


@pytest.fixture
async def budget(fake_time: FakeTime) -> CallBudget:
    return CallBudget(clock=fake_time, sleep=fake_time.sleep)


@pytest.fixture
async def connector(sandbox: VismaNetSandbox, fake_time: FakeTime, budget: CallBudget, monkeypatch: pytest.MonkeyPatch
                    ) -> AsyncIterator[VismaNetConnector]:
    # Configured as for the real service, pointed at the sandbox: both addresses, and the secret from the environment.
    monkeypatch.setenv(SECRET_VARIABLE, SANDBOX_CLIENT_SECRET)
    settings = VismaNetIntegrationSettings(base_url=sandbox.url, connect_url=sandbox.url, read_timeout=0.25,
                                           base_delay=0.01)
    async with httpx.AsyncClient(timeout=settings.timeouts()) as http:
        made = INSTALLED.get("visma-net").make_connector(ConnectorContext(
            settings=settings, base_url=sandbox.url, redirect_uri="", credentials=MemoryCredentials(), http=http,
            budget=budget, clock=fake_time, sleep=fake_time.sleep))
        assert isinstance(made, VismaNetConnector)
        yield made


def insert(key: str, name: str, idempotency_key: str = "mirror-1") -> InvoiceAction:
    return InvoiceAction(idempotency_key=idempotency_key, kind=ActionKind.MIRROR_INSERT,
                         administration=JANSEN.company_id,
                         payload={"entity": "customers", "key": key, "fields": {"name": name}})


async def test_connecting_with_company_and_tenant_opens_that_company(connector: VismaNetConnector) -> None:
    user = await connector.connect(f"  {GRANT} ")
    assert (user.user_name, user.current_administration) == ("isv_statuspage_sandbox", JANSEN.company_id)
    assert [item.code for item in await connector.accessible_administrations()] == [JANSEN.company_id]
    assert VISMA_NET.administration_term == "company" and VISMA_NET.action_kinds == {
        ActionKind.MIRROR_INSERT, ActionKind.MIRROR_UPDATE}


async def test_a_grant_that_is_not_company_equals_tenant_says_what_to_type(connector: VismaNetConnector) -> None:
    with pytest.raises(InvalidAction, match="is not COMPANY=TENANT"):
        await connector.connect(JANSEN.tenant_id)


async def test_a_tenant_that_granted_nothing_cannot_be_connected(connector: VismaNetConnector) -> None:
    with pytest.raises(AuthorizationError, match="not granted"):
        await connector.connect(f"{JANSEN.company_id}=00000000-0000-0000-0000-000000000000")
    with pytest.raises(AuthorizationError, match="not connected"):
        await connector.connection_user()


async def test_a_mirror_insert_creates_the_customer_once_even_when_its_answer_is_lost(
    sandbox: VismaNetSandbox, connector: VismaNetConnector
) -> None:
    await connector.connect(GRANT)
    control(sandbox, "faults", {"fail_next": 1, "after_insert": True})
    result = await connector.execute(insert("EOL-102", "Installatiebedrijf Noord B.V."))
    customers = held(sandbox)
    assert [(c["accountReference"], c["name"]) for c in customers] == [("EOL-102", "Installatiebedrijf Noord B.V.")]
    assert (result.reference, result.entry_number, result.administration) == ("EOL-102", customers[0]["number"],
                                                                              JANSEN.company_id)
    # Tried again later (the outbox looks up first): found, not sent again.
    found = await connector.find_result(insert("EOL-102", "Installatiebedrijf Noord B.V."))
    assert found is not None and found.entry_number == customers[0]["number"]
    assert len(held(sandbox)) == 1


async def test_a_mirror_update_changes_the_matched_customer(sandbox: VismaNetSandbox,
                                                             connector: VismaNetConnector) -> None:
    await connector.connect(GRANT)
    number = seed(sandbox, {"name": "Noord", "reference": "EOL-102"})[0]["number"]
    change = InvoiceAction(idempotency_key="mirror-2", kind=ActionKind.MIRROR_UPDATE, administration=JANSEN.company_id,
                           payload={"entity": "customers", "key": "EOL-102", "row": number,
                                    "fields": {"name": "Noord Installaties B.V."}})
    await connector.execute(change)
    assert [(c["number"], c["name"]) for c in held(sandbox)] == [(number, "Noord Installaties B.V.")]
    assert await connector.find_result(change) is None  # an update is simply repeated: it is safe to


async def test_invoice_actions_and_unknown_fields_are_refused_before_anything_is_sent(
    sandbox: VismaNetSandbox, connector: VismaNetConnector
) -> None:
    await connector.connect(GRANT)
    sent = len(exchanges(sandbox, "/v1/customer"))
    book = InvoiceAction(idempotency_key="b-1", kind=ActionKind.BOOK, administration=JANSEN.company_id, payload={})
    with pytest.raises(InvalidAction, match="not book actions"):
        await connector.execute(book)
    wrong = InvoiceAction(idempotency_key="m-1", kind=ActionKind.MIRROR_INSERT, administration=JANSEN.company_id,
                          payload={"entity": "customers", "key": "EOL-1", "fields": {"name": "A", "city": "Zwolle"}})
    with pytest.raises(InvalidAction, match="cannot set city"):
        await connector.execute(wrong)
    assert len(exchanges(sandbox, "/v1/customer")) == sent


async def test_the_call_budget_is_fed_by_the_hour_and_keeps_its_last_share_for_writes(
    sandbox: VismaNetSandbox, connector: VismaNetConnector, budget: CallBudget
) -> None:
    control(sandbox, "faults", {"hourly_limit": 10})
    await connector.connect(GRANT)  # one call: 9 of the hour left
    assert budget.budget("visma-net", JANSEN.company_id).daily == Window(10, 9, TEN_O_CLOCK)
    with calling_as(CallClass.SYNC):
        for _ in range(7):  # down to 2: the last 20 % (2 calls) are kept for writes
            await connector.accessible_administrations()
        with pytest.raises(RateLimited) as refused:
            await connector.accessible_administrations()
    assert refused.value.retry_at == TEN_O_CLOCK
    await connector.execute(insert("EOL-7", "Relation 7"))  # a write (the default class) still goes
    assert [c["accountReference"] for c in held(sandbox)] == ["EOL-7"]


async def test_customers_are_read_for_the_mirror_all_at_first_then_what_changed_since(
    sandbox: VismaNetSandbox, connector: VismaNetConnector, fake_time: FakeTime, budget: CallBudget
) -> None:
    await connector.connect(GRANT)
    seed(sandbox, {"name": "Gemeente Noorderveld"})
    fake_time.advance(600)
    seed(sandbox, {"name": "Noord", "reference": "EOL-102"})
    reader = VismaNetMasterData(connector, ReadOptions(page_size=1))
    with calling_as(CallClass.SYNC):
        first = [page async for page in reader.changes(JANSEN.company_id, "customers", None)]
        assert [[row["name"] for row in page.rows] for page in first] == [["Gemeente Noorderveld"], ["Noord"]]
        assert [(page.last, page.cursor) for page in first] == [(False, None), (True, "2026-11-23T09:40:10+00:00")]
        assert (first[1].rows[0]["reference"], first[1].rows[0]["number"]) == ("EOL-102", "10001")
        fake_time.advance(3600)
        seed(sandbox, {"name": "Nieuw", "reference": "EOL-103"})
        later = [row["name"] async for page in reader.changes(JANSEN.company_id, "customers", first[-1].cursor)
                 for row in page.rows]
    # From 5 minutes before the newest change read: the customer at that moment again (unchanged in the mirror),
    # the new one, and not the one of ten minutes before.
    assert later == ["Noord", "Nieuw"]
    assert budget.budget("visma-net", JANSEN.company_id).used_today[CallClass.SYNC] == 4
