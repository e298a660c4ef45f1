"""Visma.net customers over HTTP: listed (all, or by `lastModifiedDateTime` and its condition, page by page),
read, created and updated, with Visma's field names mapped and Visma's own messages kept in errors."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from visma_net_helpers import (  # noqa: F401 (fixtures)
    JANSEN,
    FakeTime,
    anyio_backend_fixture,
    client_for,
    exchanges,
    fake_time_fixture,
    held,
    sandbox_fixture,
    seed,
)

from integrations.base import NoAccess, RemoteError, TransientError
from integrations.visma_net import Company, Customer, CustomerChange, CustomerDraft
from integrations.visma_net.errors import error_from_response
from integrations.visma_net.sandbox import VismaNetSandbox, demo_scenario

pytestmark = pytest.mark.anyio

NINE_THIRTY = datetime(2026, 11, 23, 9, 30, 10, tzinfo=UTC)


async def test_the_demo_company_lists_its_customers_with_plain_names_and_no_reference_on_hand_made_ones(
    fake_time: FakeTime,
) -> None:
    with VismaNetSandbox(demo_scenario(), clock=fake_time) as sandbox:
        async with client_for(sandbox, fake_time) as visma:
            customers = await visma.list_customers(JANSEN)
    assert customers == [
        Customer(number="10000", name="Bakkerij De Korenschoof", reference=None, status="Active", internal_id=1,
                 created=NINE_THIRTY, last_modified=NINE_THIRTY),
        Customer(number="10001", name="Gemeente Noorderveld", reference=None, status="Active", internal_id=2,
                 created=NINE_THIRTY, last_modified=NINE_THIRTY),
        Customer(number="10002", name="Installatiebedrijf Noord B.V.", reference="EOL-102", status="Active",
                 internal_id=3, created=NINE_THIRTY, last_modified=NINE_THIRTY),
    ]


async def test_the_last_modified_filter_returns_only_customers_changed_by_its_condition(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    seed(sandbox, {"name": "Old A", "number": "10000"}, {"name": "Old B", "number": "10001"})
    fake_time.advance(600)
    async with client_for(sandbox, fake_time) as visma:
        await visma.update_customer(JANSEN, "10001", CustomerChange(name="Old B, renamed"))
        fake_time.advance(60)
        created = await visma.create_customer(JANSEN, CustomerDraft(name="New C", reference="EOL-3"))
        changed_at = datetime(2026, 11, 23, 9, 40, 10, tzinfo=UTC)

        since = await visma.list_customers(JANSEN, modified=changed_at, condition=">=")
        after = await visma.list_customers(JANSEN, modified=changed_at, condition=">")
        before = await visma.list_customers(JANSEN, modified=changed_at, condition="<")
        up_to = await visma.list_customers(JANSEN, modified=changed_at, condition="<=")
    assert [(c.number, c.name) for c in since] == [("10001", "Old B, renamed"), ("10002", "New C")]
    assert [c.number for c in after] == ["10002"]
    assert [c.number for c in before] == ["10000"]
    assert [c.number for c in up_to] == ["10000", "10001"]
    assert created.last_modified == datetime(2026, 11, 23, 9, 41, 10, tzinfo=UTC)
    lists = [x for x in exchanges(sandbox, "/v1/customer") if x["method"] == "GET"]
    assert len(lists) == 4  # reading the created customer back goes to /v1/customer/10002


async def test_a_list_is_read_page_by_page_until_a_short_page(sandbox: VismaNetSandbox, fake_time: FakeTime) -> None:
    seed(sandbox, *({"name": f"Customer {n}", "reference": f"EOL-{n}"} for n in range(5)))
    async with client_for(sandbox, fake_time, page_size=2) as visma:
        pages = [[c.reference for c in page] async for page in visma.customer_pages(JANSEN)]
    assert pages == [["EOL-0", "EOL-1"], ["EOL-2", "EOL-3"], ["EOL-4"]]
    assert len(exchanges(sandbox, "/v1/customer")) == 3


async def test_a_created_customer_comes_back_as_stored_with_the_next_number_and_its_reference(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    seed(sandbox, {"name": "Made by hand", "number": "10007"})
    async with client_for(sandbox, fake_time) as visma:
        created = await visma.create_customer(JANSEN, CustomerDraft(
            name="Installatiebedrijf Noord B.V.", reference="EOL-102", corporate_id="12345678"))
        fake_time.advance(30)
        await visma.update_customer(JANSEN, created.number, CustomerChange(name="Noord Installaties B.V."))
        updated = await visma.get_customer(JANSEN, created.number)
    assert created == Customer(number="10008", name="Installatiebedrijf Noord B.V.", reference="EOL-102",
                               status="Active", internal_id=2, corporate_id="12345678", created=NINE_THIRTY,
                               last_modified=NINE_THIRTY)
    assert updated is not None
    assert (updated.name, updated.reference, updated.last_modified) == (
        "Noord Installaties B.V.", "EOL-102", datetime(2026, 11, 23, 9, 30, 40, tzinfo=UTC))
    assert [(c["number"], c["accountReference"], c["madeBy"]) for c in held(sandbox)] == [
        ("10007", None, "hand"), ("10008", "EOL-102", "api")]


async def test_a_customer_created_with_its_own_number_keeps_it(sandbox: VismaNetSandbox, fake_time: FakeTime) -> None:
    async with client_for(sandbox, fake_time) as visma:
        created = await visma.create_customer(JANSEN, CustomerDraft(name="Noord", reference="EOL-102", number="102"))
    assert (created.number, created.reference) == ("102", "EOL-102")


async def test_a_missing_customer_reads_as_none(sandbox: VismaNetSandbox, fake_time: FakeTime) -> None:
    async with client_for(sandbox, fake_time) as visma:
        assert await visma.get_customer(JANSEN, "99999") is None


async def test_a_refusal_keeps_vismas_own_message(sandbox: VismaNetSandbox, fake_time: FakeTime) -> None:
    async with client_for(sandbox, fake_time) as visma:
        with pytest.raises(RemoteError) as refused:
            await visma.create_customer(JANSEN, CustomerDraft(name="N" * 61, reference="EOL-1"))
    assert (refused.value.status, refused.value.code, refused.value.message) == (
        400, "10400", "Name: 1 to 60 characters.")
    assert held(sandbox) == []


async def test_a_company_the_token_does_not_cover_is_refused_as_no_access(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    elsewhere = Company(company_id="2000001", tenant_id=JANSEN.tenant_id)
    async with client_for(sandbox, fake_time) as visma:
        with pytest.raises(NoAccess) as refused:
            await visma.list_customers(elsewhere)
    assert (refused.value.administration, refused.value.remote_reason, refused.value.reason) == (
        "2000001", "12002", "Visma.net refused: The token does not give access to company 2000001.")


@pytest.mark.parametrize(("status", "kind"), [(408, TransientError), (400, RemoteError), (422, RemoteError),
                                              (503, TransientError)])
def test_a_request_timeout_is_tried_again_and_other_4xx_are_refusals(status, kind) -> None:
    refusal = error_from_response(httpx.Response(status, json={"ExceptionMessage": "Name: 1 to 60 characters."}),
                                  "1896329", datetime(2026, 12, 1, tzinfo=UTC))
    assert type(refusal) is kind
