"""The condition language of probes: what parses, what is rejected and how, and what holds."""

import pytest

from statuspage.probes.conditions import (
    Condition,
    ConditionError,
    ConditionResult,
    Constant,
    Operand,
    Operator,
    Placeholder,
    all_passed,
    evaluate,
    evaluate_all,
    parse,
    placeholders,
)

STATUS = Placeholder("STATUS")
CHOICES = "use one of ==, !=, <, <=, >, >="


def check(text: str, values: dict[str, object]) -> tuple[bool, str]:
    result = evaluate(parse(text), values)
    return result.success, result.description


# Parsing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "left", "operator", "right"),
    [
        pytest.param("[STATUS] == 200", STATUS, Operator.EQUAL, Constant(200, "200"), id="equal"),
        pytest.param("[STATUS] != 503", STATUS, Operator.NOT_EQUAL, Constant(503, "503"), id="not-equal"),
        pytest.param("[STATUS] < 300", STATUS, Operator.LESS, Constant(300, "300"), id="less"),
        pytest.param("[STATUS] <= 299", STATUS, Operator.LESS_OR_EQUAL, Constant(299, "299"), id="less-or-equal"),
        pytest.param("[STATUS] > 199", STATUS, Operator.GREATER, Constant(199, "199"), id="greater"),
        pytest.param("[STATUS] >= 200", STATUS, Operator.GREATER_OR_EQUAL, Constant(200, "200"), id="greater-or-equal"),
        pytest.param("[STATUS]==200", STATUS, Operator.EQUAL, Constant(200, "200"), id="no-spaces-needed"),
        pytest.param("  [STATUS] ==  200 ", STATUS, Operator.EQUAL, Constant(200, "200"), id="extra-spaces"),
        pytest.param("200 == [STATUS]", Constant(200, "200"), Operator.EQUAL, STATUS, id="constant-on-the-left"),
        pytest.param(
            "[RESPONSE_TIME] < 800", Placeholder("RESPONSE_TIME"), Operator.LESS, Constant(800, "800"), id="underscore"
        ),
        pytest.param(
            "[BODY].ratio >= 0.75", Placeholder("BODY", ("ratio",)), Operator.GREATER_OR_EQUAL, Constant(0.75, "0.75"),
            id="decimal",
        ),
        pytest.param(
            "[BODY].delta > -5", Placeholder("BODY", ("delta",)), Operator.GREATER, Constant(-5, "-5"), id="negative"
        ),
        pytest.param(
            '[BODY].d.results[0].UserID != ""',
            Placeholder("BODY", ("d", "results", 0, "UserID")), Operator.NOT_EQUAL, Constant("", '""'),
            id="body-path-through-objects-and-arrays",
        ),
        pytest.param(
            '[BODY].versions.2024 == "ok"', Placeholder("BODY", ("versions", "2024")), Operator.EQUAL,
            Constant("ok", '"ok"'), id="a-key-of-digits-is-still-a-key",
        ),
        pytest.param(
            '[BODY] == "pong"', Placeholder("BODY"), Operator.EQUAL, Constant("pong", '"pong"'), id="whole-body"
        ),
        pytest.param(
            '[BODY].message == "a == b"', Placeholder("BODY", ("message",)), Operator.EQUAL,
            Constant("a == b", '"a == b"'), id="operator-inside-a-string",
        ),
        pytest.param(
            r'[BODY].message == "say \"hi\""', Placeholder("BODY", ("message",)), Operator.EQUAL,
            Constant('say "hi"', r'"say \"hi\""'), id="json-escapes-in-a-string",
        ),
        pytest.param(
            "[BODY].up == true", Placeholder("BODY", ("up",)), Operator.EQUAL, Constant(True, "true"), id="true"
        ),
        pytest.param(
            "[BODY].up != false", Placeholder("BODY", ("up",)), Operator.NOT_EQUAL, Constant(False, "false"), id="false"
        ),
        pytest.param(
            "[BODY].error == null", Placeholder("BODY", ("error",)), Operator.EQUAL, Constant(None, "null"), id="null"
        ),
        pytest.param(
            "[BODY].used < [BODY].limit",
            Placeholder("BODY", ("used",)), Operator.LESS, Placeholder("BODY", ("limit",)),
            id="placeholder-against-placeholder",
        ),
        pytest.param(
            "[DELAYED] <= 100", Placeholder("DELAYED"), Operator.LESS_OR_EQUAL, Constant(100, "100"),
            id="a-probe-kind-of-its-own",
        ),
    ],
)
def test_a_valid_condition_parses_into_its_operands_and_operator(
    text: str, left: Operand, operator: Operator, right: Operand
) -> None:
    assert parse(text) == Condition(left, operator, right, text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("", "empty condition; write a comparison such as [STATUS] == 200", id="empty"),
        pytest.param("[STATUS] = 200", f"unknown operator '='; {CHOICES}", id="single-equals"),
        pytest.param("[STATUS] => 200", f"unknown operator '=>'; {CHOICES}", id="reversed-operator"),
        pytest.param("[STATUS]", f"expected an operator after [STATUS]; {CHOICES}", id="no-operator"),
        pytest.param(
            "[STATUS] is 200", f"expected an operator after [STATUS], found 'is'; {CHOICES}", id="word-as-operator"
        ),
        pytest.param("[STATUS] ==", "expected a right operand after ==", id="no-right-operand"),
        pytest.param("[STATUS] == == 200", "expected a right operand after ==, found '=='", id="doubled-operator"),
        pytest.param("== 200", "expected a left operand, found '=='", id="no-left-operand"),
        pytest.param(
            "[RESPONSE_TIME] < fast",
            "'fast' is not a number, a quoted string, true, false, null or a [PLACEHOLDER]",
            id="bare-word",
        ),
        pytest.param(
            "[RESPONSE_TIME] < 800ms",
            "'800ms' is not a number, a quoted string, true, false, null or a [PLACEHOLDER]",
            id="number-with-unit",
        ),
        pytest.param(
            "[BODY].up == True",
            "'True' is not a number, a quoted string, true, false, null or a [PLACEHOLDER]",
            id="capitalised-keyword",
        ),
        pytest.param(
            "[status] == 200",
            "'[status]' is not a placeholder; names are upper case letters, digits and underscores",
            id="lower-case-placeholder",
        ),
        pytest.param(
            "[STATUS].code == 200", "only [BODY] can be followed by a path, not [STATUS]", id="path-after-status"
        ),
        pytest.param(
            "[BODY].items[first] == 1",
            "the body path goes wrong at '[first]'; each step is .key or [index], as in [BODY].items[0].id",
            id="index-that-is-not-a-number",
        ),
        pytest.param(
            "[BODY].items[-1] == 1",
            "the body path goes wrong at '[-1]'; each step is .key or [index], as in [BODY].items[0].id",
            id="negative-index",
        ),
        pytest.param(
            "[BODY]. == 1",
            "the body path goes wrong at '.'; each step is .key or [index], as in [BODY].items[0].id",
            id="dot-without-key",
        ),
        pytest.param('[BODY].status == "ok', "the string '\"ok' has no closing double quote", id="unclosed-string"),
        pytest.param(
            r'[BODY].status == "o\k"', r"""'"o\k"' is not a valid JSON string: Invalid \escape""", id="bad-escape"
        ),
        pytest.param(
            "[STATUS] == 200 OK", "unexpected 'OK' after 200; a condition is a single comparison", id="trailing-word"
        ),
        pytest.param(
            "[STATUS] == 200 && [RESPONSE_TIME] < 800",
            "unexpected '&& [RESPONSE_TIME] < 800' after 200; a condition is a single comparison",
            id="two-comparisons",
        ),
        pytest.param("1 == 1", "both sides are constants; one side must be a [PLACEHOLDER]", id="no-placeholder"),
    ],
)
def test_an_invalid_condition_is_rejected_saying_what_is_wrong_and_where(text: str, problem: str) -> None:
    with pytest.raises(ConditionError) as raised:
        parse(text)
    assert str(raised.value) == f"'{text}': {problem}"
    assert (raised.value.text, raised.value.problem) == (text, problem)


def test_a_condition_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown operator"):
        parse("[STATUS] = 200")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[STATUS] == 200", {"STATUS"}),
        ('[BODY].d.results[0].UserID != ""', {"BODY"}),
        ("[BODY].used < [BODY].limit", {"BODY"}),
        ("100 >= [DELAYED]", {"DELAYED"}),
        ("[OLDEST_AGE] < [MAX_AGE]", {"OLDEST_AGE", "MAX_AGE"}),
    ],
)
def test_placeholders_names_what_a_probe_must_offer(text: str, names: set[str]) -> None:
    assert placeholders(parse(text)) == names


# Evaluation -------------------------------------------------------------------------------------

OUTCOME = ("text", "values", "success", "description")


@pytest.mark.parametrize(
    OUTCOME,
    [
        ("[STATUS] == 200", {"STATUS": 200}, True, "[STATUS] (200) == 200"),
        ("[STATUS] == 200", {"STATUS": 503}, False, "[STATUS] (503) == 200"),
        ("[STATUS] != 503", {"STATUS": 503}, False, "[STATUS] (503) != 503"),
        ("[STATUS] != 503", {"STATUS": 200}, True, "[STATUS] (200) != 503"),
        ("[STATUS] < 300", {"STATUS": 299}, True, "[STATUS] (299) < 300"),
        ("[STATUS] < 300", {"STATUS": 300}, False, "[STATUS] (300) < 300"),
        ("[STATUS] <= 299", {"STATUS": 299}, True, "[STATUS] (299) <= 299"),
        ("[STATUS] > 400", {"STATUS": 400}, False, "[STATUS] (400) > 400"),
        ("[STATUS] >= 400", {"STATUS": 400}, True, "[STATUS] (400) >= 400"),
        ("200 == [STATUS]", {"STATUS": 200}, True, "200 == [STATUS] (200)"),
    ],
)
def test_status_codes_compare_as_numbers(text: str, values: dict[str, object], success: bool, description: str) -> None:
    assert check(text, values) == (success, description)


@pytest.mark.parametrize(
    OUTCOME,
    [
        ("[RESPONSE_TIME] < 800", {"RESPONSE_TIME": 212}, True, "[RESPONSE_TIME] (212) < 800"),
        ("[RESPONSE_TIME] < 800", {"RESPONSE_TIME": 812.4}, False, "[RESPONSE_TIME] (812) < 800"),
        ("[RESPONSE_TIME] < 800", {"RESPONSE_TIME": 799.6}, False, "[RESPONSE_TIME] (800) < 800"),
        ("[RESPONSE_TIME] <= 812", {"RESPONSE_TIME": 812.5}, False, "[RESPONSE_TIME] (813) <= 812"),
        ("[RESPONSE_TIME] < 800", {"RESPONSE_TIME": 300.0}, True, "[RESPONSE_TIME] (300) < 800"),
        ("[RESPONSE_TIME] < 800", {"RESPONSE_TIME": float("inf")}, False, "[RESPONSE_TIME] (Infinity) < 800"),
    ],
)
def test_response_times_are_compared_and_shown_in_whole_milliseconds(
    text: str, values: dict[str, object], success: bool, description: str
) -> None:
    assert check(text, values) == (success, description)


RESULTS = {"d": {"results": [{"UserID": "jdoe"}, {"UserID": ""}]}}


@pytest.mark.parametrize(
    OUTCOME,
    [
        ('[BODY].d.results[0].UserID != ""', {"BODY": RESULTS}, True, '[BODY].d.results[0].UserID ("jdoe") != ""'),
        ('[BODY].d.results[1].UserID != ""', {"BODY": RESULTS}, False, '[BODY].d.results[1].UserID ("") != ""'),
        ('[BODY].status == "ok"', {"BODY": {"status": "ok"}}, True, '[BODY].status ("ok") == "ok"'),
        ("[BODY].count >= 10", {"BODY": {"count": 12}}, True, "[BODY].count (12) >= 10"),
        ("[BODY].count == 200", {"BODY": {"count": 200.0}}, True, "[BODY].count (200) == 200"),
        ("[BODY].ratio > 0.5", {"BODY": {"ratio": 0.75}}, True, "[BODY].ratio (0.75) > 0.5"),
        (
            '[BODY].versions.2024 == "ok"', {"BODY": {"versions": {"2024": "ok"}}}, True,
            '[BODY].versions.2024 ("ok") == "ok"',
        ),
        ('[BODY] == "pong"', {"BODY": "pong"}, True, '[BODY] ("pong") == "pong"'),
        (
            r'[BODY].message == "say \"hi\""', {"BODY": {"message": 'say "hi"'}}, True,
            r'[BODY].message ("say \"hi\"") == "say \"hi\""',
        ),
        (
            '[BODY].message == "ok"', {"BODY": {"message": "line\nbreak"}}, False,
            r'[BODY].message ("line\nbreak") == "ok"',
        ),
        (
            "[BODY].tags == [BODY].wanted", {"BODY": {"tags": ["a", "b"], "wanted": ["a", "b"]}}, True,
            '[BODY].tags (["a", "b"]) == [BODY].wanted (["a", "b"])',
        ),
    ],
)
def test_body_paths_reach_into_nested_objects_and_arrays(
    text: str, values: dict[str, object], success: bool, description: str
) -> None:
    assert check(text, values) == (success, description)


@pytest.mark.parametrize(
    OUTCOME,
    [
        ("[STATUS] == 200", {}, False, "[STATUS] (missing) == 200"),
        ("[STATUS] != 503", {}, False, "[STATUS] (missing) != 503"),
        (
            '[BODY].d.results[2].UserID != ""', {"BODY": RESULTS}, False,
            '[BODY].d.results[2].UserID (missing) != ""',
        ),
        ('[BODY].d.results[0].UserID != ""', {"BODY": {}}, False, '[BODY].d.results[0].UserID (missing) != ""'),
        ('[BODY].status == "ok"', {"BODY": "<html>down</html>"}, False, '[BODY].status (missing) == "ok"'),
        ('[BODY].status == "ok"', {"BODY": None}, False, '[BODY].status (missing) == "ok"'),
        ("[BODY].items[0] == 1", {"BODY": {"items": {"0": 1}}}, False, "[BODY].items[0] (missing) == 1"),
        ("[BODY].items.first == 1", {"BODY": {"items": [1]}}, False, "[BODY].items.first (missing) == 1"),
        ("[BODY].used < [BODY].limit", {"BODY": {"used": 3}}, False, "[BODY].used (3) < [BODY].limit (missing)"),
    ],
)
def test_a_value_the_probe_did_not_see_fails_the_condition_and_shows_missing(
    text: str, values: dict[str, object], success: bool, description: str
) -> None:
    assert check(text, values) == (success, description)


@pytest.mark.parametrize(
    OUTCOME,
    [
        ("[BODY].error == null", {"BODY": {"error": None}}, True, "[BODY].error (null) == null"),
        ("[BODY].error == null", {"BODY": {"error": "boom"}}, False, '[BODY].error ("boom") == null'),
        ("[BODY].error != null", {"BODY": {"error": "boom"}}, True, '[BODY].error ("boom") != null'),
        ("[BODY] == null", {"BODY": None}, True, "[BODY] (null) == null"),
        ("[BODY].up == true", {"BODY": {"up": True}}, True, "[BODY].up (true) == true"),
        ("[BODY].up == true", {"BODY": {"up": False}}, False, "[BODY].up (false) == true"),
        ("[BODY].up != false", {"BODY": {"up": True}}, True, "[BODY].up (true) != false"),
    ],
)
def test_null_and_booleans_compare_as_themselves(
    text: str, values: dict[str, object], success: bool, description: str
) -> None:
    assert check(text, values) == (success, description)


@pytest.mark.parametrize(
    OUTCOME,
    [
        ("[BODY].code == 200", {"BODY": {"code": "200"}}, False, '[BODY].code ("200") == 200'),
        ('[BODY].code == "200"', {"BODY": {"code": "200"}}, True, '[BODY].code ("200") == "200"'),
        ('[BODY].code == "200"', {"BODY": {"code": 200}}, False, '[BODY].code (200) == "200"'),
        ("[BODY].code != 200", {"BODY": {"code": "200"}}, True, '[BODY].code ("200") != 200'),
        ("[BODY].up == 1", {"BODY": {"up": True}}, False, "[BODY].up (true) == 1"),
        ("[BODY].count == 0", {"BODY": {"count": False}}, False, "[BODY].count (false) == 0"),
    ],
)
def test_a_number_never_equals_a_string_or_a_boolean(
    text: str, values: dict[str, object], success: bool, description: str
) -> None:
    assert check(text, values) == (success, description)


@pytest.mark.parametrize(
    OUTCOME,
    [
        (
            "[BODY].count >= 10", {"BODY": {"count": "10"}}, False,
            '[BODY].count ("10") >= 10 — only numbers can be compared with >=',
        ),
        (
            "[BODY].count < 10", {"BODY": {"count": None}}, False,
            "[BODY].count (null) < 10 — only numbers can be compared with <",
        ),
        (
            "[BODY].count > 0", {"BODY": {"count": True}}, False,
            "[BODY].count (true) > 0 — only numbers can be compared with >",
        ),
        (
            '[BODY].day < "2025-01-01"', {"BODY": {"day": "2024-12-31"}}, False,
            '[BODY].day ("2024-12-31") < "2025-01-01" — only numbers can be compared with <',
        ),
    ],
)
def test_ordering_anything_but_two_numbers_fails_and_says_why(
    text: str, values: dict[str, object], success: bool, description: str
) -> None:
    assert check(text, values) == (success, description)


@pytest.mark.parametrize(
    OUTCOME,
    [
        ("[BODY].a == [BODY].b", {"BODY": {"a": 1, "b": 1.0}}, True, "[BODY].a (1) == [BODY].b (1)"),
        (
            "[BODY].used < [BODY].limit", {"BODY": {"used": 95, "limit": 90}}, False,
            "[BODY].used (95) < [BODY].limit (90)",
        ),
        ("[DELAYED] <= [LIMIT]", {"DELAYED": 3, "LIMIT": 100}, True, "[DELAYED] (3) <= [LIMIT] (100)"),
    ],
)
def test_a_placeholder_compares_with_another_placeholder(
    text: str, values: dict[str, object], success: bool, description: str
) -> None:
    assert check(text, values) == (success, description)


@pytest.mark.parametrize(
    OUTCOME,
    [
        ("[DELAYED] <= 100", {"DELAYED": 3}, True, "[DELAYED] (3) <= 100"),
        ("[OLDEST_AGE] < 3600", {"OLDEST_AGE": 4000.0}, False, "[OLDEST_AGE] (4000) < 3600"),
        ("[UNREACHABLE] == 0", {"UNREACHABLE": 0}, True, "[UNREACHABLE] (0) == 0"),
        ("[AGE] < 86400", {"AGE": 90061.5}, False, "[AGE] (90061.5) < 86400"),
    ],
)
def test_other_probes_bring_their_own_placeholders_and_only_response_times_are_rounded(
    text: str, values: dict[str, object], success: bool, description: str
) -> None:
    assert check(text, values) == (success, description)


def test_a_long_value_is_cut_short_in_the_description() -> None:
    result = evaluate(parse('[BODY] == "ok"'), {"BODY": "x" * 500})
    assert not result.success
    assert result.description == '[BODY] ("' + "x" * 79 + '…) == "ok"'


def test_a_result_names_the_condition_as_written() -> None:
    result = evaluate(parse("[STATUS]==200"), {"STATUS": 200})
    assert result == ConditionResult(condition="[STATUS]==200", success=True, description="[STATUS] (200) == 200")


def test_evaluate_all_keeps_the_order_and_all_passed_needs_every_condition() -> None:
    conditions = [parse("[STATUS] == 200"), parse("[RESPONSE_TIME] < 800")]
    results = evaluate_all(conditions, {"STATUS": 200, "RESPONSE_TIME": 812.4})
    assert [(result.condition, result.success) for result in results] == [
        ("[STATUS] == 200", True),
        ("[RESPONSE_TIME] < 800", False),
    ]
    assert not all_passed(results)
    assert all_passed(evaluate_all(conditions, {"STATUS": 200, "RESPONSE_TIME": 120}))


def test_a_probe_without_conditions_has_nothing_that_can_fail() -> None:
    assert all_passed(evaluate_all([], {"STATUS": 500}))
