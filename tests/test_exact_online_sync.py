"""Reading master data for a sync, against the sandbox over HTTP: by row version (`sync/...`), deletions
(`sync/Deleted`), and by `Modified` for entities without a sync endpoint.

Row versions in the demo sandbox are laid out by the generator: per division one counter, starting at 1,
assigned entity by entity (25 accounts take 2..26, then GL accounts, ...; the last generated row is 114).
A new data-set size starts after the last version handed out (accounts 115 onward)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exact_online_helpers import (  # noqa: F401 (fixtures)
    MONDAY_MORNING,
    FakeTime,
    anyio_backend_fixture,
    api_headers,
    connected,
    control,
    exchanges,
    fake_time_fixture,
    ledger,
    plain_http,
    sandbox_fixture,
)

from integrations.base import ActionKind, InvoiceAction
from integrations.exact_online.sandbox import ExactOnlineSandbox, demo_scenario
from integrations.exact_online.sandbox.masterdata import DataSize
from integrations.exact_online.sync import (
    ACCOUNTS,
    AMSTERDAM,
    COST_CENTERS,
    GL_ACCOUNTS,
    PAYMENTS,
    PURCHASE_ORDER_LINES,
    TRANSACTION_LINES,
    Account,
    ModifiedCursor,
    OrderStatus,
    PaymentStatus,
)

pytestmark = pytest.mark.anyio

LAST_GENERATED = 114
"""The highest row version of a demo division's generated data set."""
LAST_ACCOUNT = 26
LAST_TRANSACTION_LINE = 104
GENERATED_AT = datetime(2026, 11, 23, 10, 30, 10, tzinfo=AMSTERDAM)
"""MONDAY_MORNING (09:30:10 UTC) on the wall in Amsterdam: the newest generated rows' Modified."""


def row(sandbox: ExactOnlineSandbox, entity: str, key: int | str, division: int = 201) -> dict[str, Any]:
    return control(sandbox, f"data/{division}/{entity}/{key}")


async def read_all(pages: Any) -> list[Any]:
    return [page async for page in pages]


async def test_2500_accounts_come_in_three_pages_of_at_most_1000_in_row_version_order(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    control(sandbox, "data/201", {"accounts": 2500})
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        pages = await read_all(exact.master_data().sync_pages("201", ACCOUNTS))
    assert [len(page.rows) for page in pages] == [1000, 1000, 500]
    assert [page.cursor for page in pages] == [1114, 2114, 2614]
    assert [page.last for page in pages] == [False, False, True]
    accounts = [account for page in pages for account in page.rows]
    assert [a.code for a in accounts] == [str(100_000 + i) for i in range(2500)]
    assert [a.timestamp for a in accounts] == list(range(115, 2615))
    first = row(sandbox, "accounts", 0)
    assert accounts[0] == Account(
        id=first["ID"], code="100000", name=first["Name"], is_supplier=first["IsSupplier"],
        is_customer=first["IsSales"], status="C", blocked=False, vat_number=first["VATNumber"],
        email="administratie0@example.test", city=first["City"], country="NL",
        modified=GENERATED_AT - timedelta(seconds=30 * 499), timestamp=115)
    assert len(exchanges(sandbox, "sync/CRM/Accounts")) == 3


async def test_a_smaller_page_size_asks_exact_for_fewer_rows_a_call(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        pages = await read_all(exact.master_data(page_size=10).sync_pages("201", ACCOUNTS))
    assert [(len(page.rows), page.cursor) for page in pages] == [(10, 11), (10, 21), (5, 26)]


async def test_a_change_takes_the_next_row_version_and_is_all_a_read_from_the_cursor_returns(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        reader = exact.master_data()
        [full] = await read_all(reader.sync_pages("201", ACCOUNTS))
        assert (len(full.rows), full.cursor) == (25, LAST_ACCOUNT)
        fake_time.advance(60)
        control(sandbox, "data/201/accounts/7", {"set": {"Name": "Bakkerij Nieuw"}})
        [changed] = await read_all(reader.sync_pages("201", ACCOUNTS, since=full.cursor))
        [nothing] = await read_all(reader.sync_pages("201", ACCOUNTS, since=changed.cursor))
    [account] = changed.rows
    assert (account.id, account.name, account.code) == (row(sandbox, "accounts", 7)["ID"], "Bakkerij Nieuw", "100007")
    assert (account.timestamp, changed.cursor, changed.last) == (LAST_GENERATED + 1, LAST_GENERATED + 1, True)
    assert account.modified == GENERATED_AT + timedelta(seconds=60)
    assert (nothing.rows, nothing.cursor, nothing.last) == ([], LAST_GENERATED + 1, True)


async def test_soft_deletes_are_reported_in_sync_deleted_by_entity_type(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    account_key, gl_key = row(sandbox, "accounts", 3)["ID"], row(sandbox, "gl_accounts", 2)["ID"]
    control(sandbox, "data/201/accounts/3", {"delete": True})
    control(sandbox, "data/201/gl_accounts/2", {"delete": True})
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        reader = exact.master_data()
        [accounts_only] = await read_all(reader.deleted_pages("201", entity_types={ACCOUNTS.deleted_type or 0}))
        [everything] = await read_all(reader.deleted_pages("201"))
        [after] = await read_all(reader.deleted_pages("201", since=everything.cursor))
        [full] = await read_all(reader.sync_pages("201", ACCOUNTS))
    assert [(r.key, r.entity_type, r.timestamp) for r in accounts_only.records] == [(account_key, 2, 115)]
    assert accounts_only.records[0].deleted_at == datetime(2026, 11, 23, 9, 30, 10, tzinfo=UTC)
    assert accounts_only.cursor == 116, "the cursor covers the whole feed, also the GL account's record"
    assert [(r.key, r.entity_type) for r in everything.records] == [(account_key, 2), (gl_key, 7)]
    assert (after.records, after.cursor) == ([], 116)
    assert len(full.rows) == 24 and account_key not in {a.id for a in full.rows}


async def test_a_hard_delete_is_not_reported_and_only_a_full_read_notices_it(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    gone = row(sandbox, "accounts", 5)["ID"]
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        reader = exact.master_data()
        [before] = await read_all(reader.sync_pages("201", ACCOUNTS))
        control(sandbox, "data/201/accounts/5", {"delete": True, "hard": True})
        [incremental] = await read_all(reader.sync_pages("201", ACCOUNTS, since=before.cursor))
        [deleted] = await read_all(reader.deleted_pages("201"))
        [full] = await read_all(reader.sync_pages("201", ACCOUNTS))
    assert (incremental.rows, deleted.records) == ([], [])
    assert {a.id for a in before.rows} - {a.id for a in full.rows} == {gone}
    assert len(full.rows) == 24


async def test_modified_reads_resume_from_an_inclusive_bound_without_delivering_a_row_twice(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    keys = [row(sandbox, "cost_centers", i)["ID"] for i in range(5)]
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        reader = exact.master_data()
        [first] = await read_all(reader.modified_pages("201", COST_CENTERS))
        fake_time.advance(60)
        control(sandbox, "data/201/cost_centers/2", {"set": {"Description": "Magazijn"}})
        [second] = await read_all(reader.modified_pages("201", COST_CENTERS, first.cursor))
        [third] = await read_all(reader.modified_pages("201", COST_CENTERS, second.cursor))
    assert [c.code for c in first.rows] == ["KP001", "KP002", "KP003", "KP004", "KP005"]
    # The bound is the read's start less the overlap, as that is earlier than the newest Modified read.
    assert first.cursor == ModifiedCursor(since=GENERATED_AT - timedelta(minutes=5),
                                          seen=dict.fromkeys(keys, GENERATED_AT))
    assert [(c.id, c.description, c.modified) for c in second.rows] == [
        (keys[2], "Magazijn", GENERATED_AT + timedelta(seconds=60))]
    assert second.cursor == ModifiedCursor(
        since=GENERATED_AT - timedelta(minutes=4),
        seen={**dict.fromkeys(keys, GENERATED_AT), keys[2]: GENERATED_AT + timedelta(seconds=60)})
    assert (third.rows, third.cursor) == ([], second.cursor)


async def test_a_modified_bound_includes_rows_modified_at_that_very_moment(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    # Ten payments: the first five modified 30 s before the last five.
    earlier = GENERATED_AT - timedelta(seconds=30)
    keys = [row(sandbox, "payments", i)["ID"] for i in range(10)]
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        reader = exact.master_data()
        [at] = await read_all(reader.modified_pages("201", PAYMENTS, ModifiedCursor(since=earlier)))
        [after] = await read_all(reader.modified_pages(
            "201", PAYMENTS, ModifiedCursor(since=earlier + timedelta(milliseconds=1))))
        [seen] = await read_all(reader.modified_pages(
            "201", PAYMENTS, ModifiedCursor(since=earlier, seen={keys[0]: earlier})))
    assert [p.id for p in at.rows] == keys
    assert [p.id for p in after.rows] == keys[5:]
    assert [p.id for p in seen.rows] == keys[1:]


async def test_a_booking_appears_as_transaction_lines_and_an_open_payment(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    project = row(sandbox, "projects", 1)["ID"]
    action = InvoiceAction(idempotency_key="inv-77", kind=ActionKind.BOOK, administration="201", payload={
        "journal": "70", "supplier": row(sandbox, "accounts", 4)["ID"], "entry_date": "2026-11-20",
        "description": "Invoice inv-77",
        "lines": [{"gl_account": "7000", "amount": 121.0, "cost_center": "KP002", "project": project}]})
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        booked = await exact.execute(action)
        reader = exact.master_data()
        [lines] = await read_all(reader.sync_pages("201", TRANSACTION_LINES, since=LAST_TRANSACTION_LINE))
        [payments] = await read_all(reader.modified_pages("201", PAYMENTS, ModifiedCursor(since=GENERATED_AT)))
    [line] = lines.rows
    assert (line.entry_id, str(line.entry_number), line.journal, line.gl_account_code, line.amount) == (
        booked.entry_id, booked.entry_number, "70", "7000", 121.0)
    assert (line.cost_center, line.project, line.date) == ("KP002", project, datetime(2026, 11, 20, tzinfo=AMSTERDAM))
    assert line.timestamp == LAST_GENERATED + 1
    [payment] = [p for p in payments.rows if p.your_ref == "inv-77"]
    assert (payment.entry_id, payment.status, payment.paid_on, payment.amount) == (
        booked.entry_id, PaymentStatus.OPEN, None, 121.0)
    assert ledger(sandbox)[0]["entry_number"] == int(booked.entry_number or 0)


async def test_purchase_order_lines_are_grouped_by_order_with_quantities_that_fit_their_status(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        [page] = await read_all(exact.master_data().sync_pages("201", PURCHASE_ORDER_LINES))
    lines = page.rows
    assert [(line.order_number, line.line_number) for line in lines] == [
        (20260001 + i // 3, i % 3 + 1) for i in range(12)]
    orders = [lines[i].order_id for i in range(0, 12, 3)]
    assert len(set(orders)) == 4
    assert all(line.order_id == orders[i // 3] for i, line in enumerate(lines))
    for line in lines:
        expected_received = {OrderStatus.OPEN: 0.0, OrderStatus.CANCELLED: 0.0, OrderStatus.COMPLETE: line.quantity,
                             OrderStatus.PARTIAL: float(int(line.quantity or 0) // 2)}[line.status or 0]
        assert line.received_quantity == expected_received
        assert line.invoiced_quantity == (line.quantity if line.status == OrderStatus.COMPLETE else 0.0)


async def test_account_codes_padded_by_exact_come_back_trimmed(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    raw = plain_http.get(f"{sandbox.url}/api/v1/201/sync/CRM/Accounts", headers=api_headers(sandbox, "p.jansen"),
                         params={"$filter": "Timestamp gt 1L", "$select": "Code", "$top": "2"})
    assert raw.json()["d"]["results"] == [{"Code": "            100000"}, {"Code": "            100001"}]
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        reader = exact.master_data(page_size=2)
        first = await anext(aiter(reader.sync_pages("201", ACCOUNTS)))
        [lines] = await read_all(reader.sync_pages("201", TRANSACTION_LINES, since=LAST_TRANSACTION_LINE - 1))
    assert [a.code for a in first.rows] == ["100000", "100001"]
    padded = row(sandbox, "transaction_lines", 29)["AccountCode"]
    assert (len(padded), lines.rows[0].account_code) == (18, padded.strip())


async def test_sync_calls_are_paced_by_the_same_division_limits_as_bookings(fake_time: FakeTime) -> None:
    with ExactOnlineSandbox(demo_scenario(), clock=fake_time, seed=7,
                            data_size=DataSize(accounts=2500)) as sandbox:
        control(sandbox, "faults", {"minutely_limit": 2})
        async with await connected(sandbox, fake_time, "p.jansen") as exact:
            pages = await read_all(exact.master_data().sync_pages("201", ACCOUNTS))
        calls = exchanges(sandbox, "sync/CRM/Accounts")
    assert [len(page.rows) for page in pages] == [1000, 1000, 500]
    assert [call["status"] for call in calls] == [200, 200, 200]
    # Two calls fit in the minute that began at 09:30:00; the third waits for 09:31:00, never meeting a 429.
    assert fake_time.slept == [50.0]
    assert [call["at"] for call in calls] == [MONDAY_MORNING.isoformat()] * 2 + [
        (MONDAY_MORNING + timedelta(seconds=50)).isoformat()]


def test_sync_answers_carry_the_rate_limits_and_count_against_the_division(sandbox: ExactOnlineSandbox) -> None:
    headers = api_headers(sandbox, "p.jansen")
    answers = [plain_http.get(f"{sandbox.url}/api/v1/201/{endpoint}", headers=headers)
               for endpoint in ("sync/CRM/Accounts", "sync/Deleted", "crm/Accounts")]
    assert [a.headers["X-RateLimit-Minutely-Remaining"] for a in answers] == ["59", "58", "57"]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["4999", "4998", "4997"]


def test_next_links_lead_back_to_the_scheme_and_host_the_client_called(sandbox: ExactOnlineSandbox) -> None:
    control(sandbox, "data/201", {"accounts": 2500})
    url = f"{sandbox.url}/api/v1/201/sync/CRM/Accounts"
    query = {"$filter": "Timestamp gt 1L", "$select": "ID,Code"}
    auth = api_headers(sandbox, "p.jansen")
    proxied = plain_http.get(url, params=query, headers={
        **auth, "Host": "exact.example.test:8443", "X-Forwarded-Proto": "https"}).json()["d"]
    direct = plain_http.get(url, params=query, headers=auth).json()["d"]
    rest = "?%24filter=Timestamp%20gt%201114L&%24select=ID%2CCode"
    assert proxied["__next"] == f"https://exact.example.test:8443/api/v1/201/sync/CRM/Accounts{rest}"
    assert direct["__next"] == f"{url}{rest}"
    last = plain_http.get(url, params={**query, "$filter": "Timestamp gt 2114L"}, headers=auth).json()["d"]
    assert (len(last["results"]), "__next" in last) == (500, False)


# How fast the sandbox makes 100,000 accounts is measured by bench/sync.py (part 2), not timed here.
def test_100000_accounts_are_generated_the_same_for_the_same_seed(fake_time: FakeTime) -> None:
    size = DataSize(accounts=100_000)
    with ExactOnlineSandbox(demo_scenario(), clock=fake_time, seed=7, data_size=size) as one, \
            ExactOnlineSandbox(demo_scenario(), clock=fake_time, seed=7, data_size=size) as same, \
            ExactOnlineSandbox(demo_scenario(), clock=fake_time, seed=8, data_size=size) as other:
        assert control(one, "data/201")["rows"]["accounts"] == 100_000
        last = row(one, "accounts", 99_999)
        assert (last["Code"].strip(), last["Timestamp"]) == ("199999", 100_001)
        assert row(same, "accounts", 99_999) == last
        assert row(other, "accounts", 99_999)["ID"] != last["ID"]
        headers = api_headers(one, "p.jansen")
        tail = plain_http.get(f"{one.url}/api/v1/201/sync/CRM/Accounts", headers=headers,
                              params={"$filter": "Timestamp gt 99999L", "$select": "Code"}).json()["d"]
    assert tail == {"results": [{"Code": "            199998"}, {"Code": "            199999"}]}


async def test_entities_without_a_sync_endpoint_are_refused_a_sync_read(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        with pytest.raises(ValueError, match="cost_centers has no sync endpoint"):
            await read_all(exact.master_data().sync_pages("201", COST_CENTERS))
        [gl] = await read_all(exact.master_data().sync_pages("201", GL_ACCOUNTS))
    assert [a.code for a in gl.rows] == [str(1000 + 10 * i) for i in range(20)]
    assert exchanges(sandbox, "hrm/CostCenters") == []


async def test_a_row_created_through_the_controls_is_read_from_the_cursor_with_its_code_trimmed(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    created = control(sandbox, "data/201/accounts", {"set": {"Code": "S-900", "Name": "Nieuwe Leverancier",
                                                              "IsSupplier": True}})
    assert (created["Code"], created["Timestamp"]) == ("             S-900", LAST_GENERATED + 1)
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        [page] = await read_all(exact.master_data().sync_pages("201", ACCOUNTS, since=LAST_ACCOUNT))
    assert [(a.id, a.code, a.name, a.is_supplier, a.timestamp) for a in page.rows] == [
        (created["ID"], "S-900", "Nieuwe Leverancier", True, LAST_GENERATED + 1)]


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("POST", "data/201/ledgers/1", {"set": {}}, 404, "No entity 'ledgers'"),
    ("GET", "data/201/accounts/999", None, 404, "No accounts row"),
    ("POST", "data/201/accounts/1", {"set": {"Colour": "red"}}, 400, "Property Colour cannot be changed."),
    ("POST", "data/201/accounts/1", {"set": {"Timestamp": 7}}, 400, "Property Timestamp cannot be changed."),
    ("POST", "data/201", {"accounts": 100_001}, 400, "accounts is between 0 and 100000."),
    ("POST", "data/999", {"accounts": 1}, 404, "No sandbox data at /_sandbox/data/999."),
])
def test_the_data_controls_refuse_what_they_cannot_do(
    sandbox: ExactOnlineSandbox, method: str, path: str, body: dict[str, Any] | None, status: int, message: str
) -> None:
    answer = plain_http.request(method, f"{sandbox.url}/_sandbox/{path}", json=body)
    assert answer.status_code == status
    assert answer.json()["error"]["message"]["value"].startswith(message)


async def test_without_the_right_to_read_a_sync_endpoint_answers_an_empty_page(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime
) -> None:
    control(sandbox, "users/p.jansen", {"denied_rights": [["sync/CRM/Accounts", "GET"]]})
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        pages = await read_all(exact.master_data().sync_pages("201", ACCOUNTS))
    assert [(page.rows, page.cursor, page.last) for page in pages] == [([], 1, True)]
