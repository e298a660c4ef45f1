"""The sandbox's OData query options: `$filter` (parsed by odata-query, evaluated by the sandbox), `$select`,
`$top`, `$orderby`, first as tables over fixed rows, then over HTTP as a client sends them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from exact_online_helpers import (  # noqa: F401 (fixtures)
    FakeTime,
    api_headers,
    control,
    fake_time_fixture,
    plain_http,
    sandbox_fixture,
)

from integrations.exact_online.sandbox import ExactOnlineSandbox
from integrations.exact_online.sandbox.query import QueryError, apply_filter, order_by, v4_spelling

GUID = "5a1f0c1e-2b6d-4c3e-9f00-0000000000a1"
ROWS = [
    {"ID": GUID, "Code": "              A1", "Name": "Bakker & Zn", "Amount": 10, "Rate": 1.5, "Active": True,
     "Modified": datetime(2026, 11, 30, 1, 0), "Note": None},
    {"ID": "5a1f0c1e-2b6d-4c3e-9f00-0000000000a2", "Code": "              B2", "Name": "Visser", "Amount": 25,
     "Rate": 0.25, "Active": False, "Modified": datetime(2026, 11, 30, 0, 59, 59), "Note": "let op"},
    {"ID": "5a1f0c1e-2b6d-4c3e-9f00-0000000000a3", "Code": "              C3", "Name": "O'Brien", "Amount": 5,
     "Rate": 2.0, "Active": True, "Modified": datetime(2026, 11, 30, 1, 0, 0, 500_000), "Note": None},
]
FIELDS = tuple(ROWS[0])


@pytest.mark.parametrize(("expression", "expected"), [
    ("Name eq 'Visser'", [1]),
    ("Name eq 'visser'", [1]),  # Exact's collation ignores case
    ("Name eq 'O''Brien'", [2]),
    ("Name ne 'Visser'", [0, 2]),
    ("Amount eq 10", [0]),
    ("Amount eq 10L", [0]),
    ("Amount gt 10", [1]),
    ("Amount ge 10", [0, 1]),
    ("Amount lt 10", [2]),
    ("Amount le 10", [0, 2]),
    ("Rate eq 1.5M", [0]),
    ("Rate lt 1", [1]),
    ("Active eq true", [0, 2]),
    (f"ID eq guid'{GUID.upper()}'", [0]),
    (f"ID ne guid'{GUID}'", [1, 2]),
    ("Modified ge datetime'2026-11-30T01:00:00'", [0, 2]),
    ("Modified gt datetime'2026-11-30T01:00:00'", [2]),
    ("Modified lt datetime'2026-11-30T01:00'", [1]),
    ("Modified le datetime'2026-11-30T01:00:00.500'", [0, 1, 2]),
    ("Modified ge datetime'2026-11-30T00:00:00Z'", [0, 2]),  # a zone is converted to Amsterdam's wall time
    ("Note eq null", [0, 2]),
    ("Note ne null", [1]),
    ("Note eq 'let op'", [1]),
    ("trim(Code) eq 'B2'", [1]),
    ("Code eq 'B2'", []),
    ("startswith(Name, 'Bak')", [0]),
    ("substringof('brien', Name)", [2]),
    ("contains(Name, '&')", [0]),
    ("Active eq true and Amount gt 5 or Name eq 'Visser'", [0, 1]),
    ("Active eq true and (Amount gt 5 or Name eq 'Visser')", [0]),
    ("not (Active eq true)", [1]),
    ("Amount gt 5 and Amount lt 20 and Active eq true", [0]),
    ("Name eq 'Visser' or Name eq 'Bakker & Zn' or Amount eq 5", [0, 1, 2]),
])
def test_filter_selects_the_rows_that_satisfy_it(expression: str, expected: list[int]) -> None:
    assert apply_filter(ROWS, expression, FIELDS) == [ROWS[i] for i in expected]


@pytest.mark.parametrize(("expression", "message"), [
    ("Nickname eq 'x'", "Property Nickname does not exist."),
    ("Amount eq 'ten'", "Operator 'eq' incompatible with operand types number and string."),
    ("Modified gt 5", "Operator 'gt' incompatible with operand types datetime and number."),
    ("Name eq", "The filter 'Name eq' cannot be parsed"),
    ("length(Name) eq 6", "The sandbox does not support Call in $filter."),
])
def test_filters_the_sandbox_cannot_answer_are_refused_with_the_reason(expression: str, message: str) -> None:
    with pytest.raises(QueryError) as refused:
        apply_filter(ROWS, expression, FIELDS)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize(("expression", "v4"), [
    ("Timestamp gt 5L", "Timestamp gt 5"),
    (f"ID eq guid'{GUID}'", f"ID eq {GUID}"),
    ("Modified ge datetime'2026-11-30T01:00'", "Modified ge 2026-11-30T01:00:00"),
    ("Rate eq 1.5M and Amount eq 2d", "Rate eq 1.5 and Amount eq 2"),
    ("Name eq 'guid''x'' 5L datetime''y'''", "Name eq 'guid''x'' 5L datetime''y'''"),
    ("Code2L eq 'x'", "Code2L eq 'x'"),
    ("substringof('O''B', Name) and Amount gt 1L", "contains(Name, 'O''B') and Amount gt 1"),
])
def test_exact_v2_literals_are_respelled_for_the_v4_parser_and_strings_are_left_alone(
    expression: str, v4: str
) -> None:
    assert v4_spelling(expression) == v4


@pytest.mark.parametrize(("orderby", "expected"), [
    ("Amount", [2, 0, 1]),
    ("Amount desc", [1, 0, 2]),
    ("Active, Amount desc", [1, 0, 2]),
    ("Active desc, Name", [0, 2, 1]),
    ("Note", [0, 2, 1]),  # null first, in the order the rows came
    ("Modified asc", [1, 0, 2]),
])
def test_orderby_sorts_by_each_term_in_turn(orderby: str, expected: list[int]) -> None:
    assert order_by(list(ROWS), orderby, FIELDS) == [ROWS[i] for i in expected]


def test_orderby_refuses_an_unknown_property() -> None:
    with pytest.raises(QueryError, match="Property Colour does not exist."):
        order_by(list(ROWS), "Colour desc", FIELDS)


def epoch_ms(day: str) -> int:
    """Exact's `/Date(ms)/`: the wall time counted as if it were UTC."""
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def get(sandbox: ExactOnlineSandbox, endpoint: str, **params: str) -> tuple[int, dict]:
    answer = plain_http.get(f"{sandbox.url}/api/v1/201/{endpoint}", params=params,
                            headers=api_headers(sandbox, "p.jansen"))
    return answer.status_code, answer.json()


def test_gl_accounts_are_filtered_ordered_cut_and_projected_over_http(sandbox: ExactOnlineSandbox) -> None:
    status, body = get(sandbox, "financial/GLAccounts", **{
        "$filter": "Code ge '1100' and Code lt '1180'", "$orderby": "Code desc", "$top": "3",
        "$select": "Code,BalanceType"})
    assert status == 200
    assert [row["Code"] for row in body["d"]["results"]] == ["1170", "1160", "1150"]
    assert all(set(row) == {"Code", "BalanceType"} for row in body["d"]["results"])


def test_an_account_is_found_by_its_trimmed_code_over_http(sandbox: ExactOnlineSandbox) -> None:
    status, body = get(sandbox, "crm/Accounts", **{"$filter": "trim(Code) eq '100003'", "$select": "Code,Name"})
    expected = control(sandbox, "data/201/accounts/3")
    assert (status, body["d"]["results"]) == (200, [{"Code": "            100003", "Name": expected["Name"]}])


def test_modified_is_filtered_in_amsterdam_wall_time_over_http(sandbox: ExactOnlineSandbox) -> None:
    # Generated at 09:30:10 UTC, 10:30:10 in Amsterdam; the five cost centres share that Modified.
    _, at = get(sandbox, "hrm/CostCenters", **{"$filter": "Modified ge datetime'2026-11-23T10:30:10'",
                                              "$select": "Code"})
    _, after = get(sandbox, "hrm/CostCenters", **{"$filter": "Modified gt datetime'2026-11-23T10:30:10'"})
    assert [row["Code"] for row in at["d"]["results"]] == ["KP001", "KP002", "KP003", "KP004", "KP005"]
    assert after["d"]["results"] == []


def test_payments_are_filtered_on_status_and_carry_their_end_date(sandbox: ExactOnlineSandbox) -> None:
    _, paid = get(sandbox, "cashflow/Payments", **{"$filter": "Status ge 40", "$select": "ID,Status,EndDate"})
    _, unpaid = get(sandbox, "cashflow/Payments", **{"$filter": "Status lt 40", "$select": "ID,Status,EndDate"})
    # Payments 0, 3 and 5 processed (40), 6 and 7 matched (50), each paid three days after its due date.
    ids = [control(sandbox, f"data/201/payments/{i}")["ID"] for i in range(10)]
    paid_on = {0: "2026-02-04", 3: "2026-02-07", 5: "2026-02-09", 6: "2026-02-10", 7: "2026-02-11"}
    assert paid["d"]["results"] == [
        {"ID": ids[i], "Status": 50 if i in (6, 7) else 40, "EndDate": f"/Date({epoch_ms(day)})/"}
        for i, day in paid_on.items()]
    assert unpaid["d"]["results"] == [
        {"ID": ids[i], "Status": 30 if i in (8, 9) else 20, "EndDate": None} for i in (1, 2, 4, 8, 9)]


@pytest.mark.parametrize(("params", "message"), [
    ({"$select": "Code,Colour"}, "Property Colour does not exist."),
    ({"$top": "-1"}, "$top must be a whole number, not '-1'."),
    ({"$orderby": "Code sideways"}, "$orderby term 'Code sideways' is not understood."),
    ({"$filter": "Code eq"}, "The filter 'Code eq' cannot be parsed"),
])
def test_query_options_the_sandbox_cannot_answer_are_a_400(
    sandbox: ExactOnlineSandbox, params: dict[str, str], message: str
) -> None:
    status, body = get(sandbox, "project/Projects", **params)
    assert status == 400
    assert body["error"]["message"]["value"].startswith(message)


def test_top_zero_gives_an_empty_page_and_top_beyond_a_page_still_pages(sandbox: ExactOnlineSandbox) -> None:
    control(sandbox, "data/201", {"cost_units": 70})
    _, none = get(sandbox, "hrm/CostUnits", **{"$top": "0"})
    _, first = get(sandbox, "hrm/CostUnits", **{"$top": "65", "$select": "Code"})
    assert none == {"d": {"results": []}}
    assert [row["Code"] for row in first["d"]["results"]] == [f"KD{i:03d}" for i in range(1, 61)]
    assert first["d"]["__next"] == (
        f"{sandbox.url}/api/v1/201/hrm/CostUnits?%24top=65&%24select=Code&%24skiptoken=60")
    second = plain_http.get(first["d"]["__next"], headers=api_headers(sandbox, "p.jansen")).json()
    assert [row["Code"] for row in second["d"]["results"]] == [f"KD{i:03d}" for i in range(61, 66)]
    assert "__next" not in second["d"]


def test_hrm_divisions_lists_the_divisions_the_user_can_open(sandbox: ExactOnlineSandbox) -> None:
    status, body = get(sandbox, "hrm/Divisions", **{"$select": "Code,Description,Status", "$orderby": "Code desc"})
    assert (status, body["d"]["results"]) == (200, [
        {"Code": 202, "Description": "Jansen Holding B.V.", "Status": 1},
        {"Code": 201, "Description": "Jansen Installatietechniek B.V.", "Status": 1}])
