"""Conditions: the small language that decides whether a scheduled probe passed.

A condition compares two operands with one operator, as in Gatus (https://github.com/TwiN/gatus):

    [STATUS] == 200                     the HTTP status code
    [STATUS] < 300
    [RESPONSE_TIME] < 800               milliseconds
    [BODY].status == "ok"               a path into the JSON body
    [BODY].d.results[0].UserID != ""
    [BODY].count >= 10
    [BODY].used < [BODY].limit          two placeholders
    [DELAYED] <= 100                    a placeholder offered by a queue probe

Operands:

- A placeholder, `[NAME]` in upper case letters, digits and underscores, stands for something
  the probe observed. The probe kind decides which names exist: an HTTP probe offers [STATUS],
  [RESPONSE_TIME] and [BODY]; other probes bring their own, such as [DELAYED], [OLDEST_AGE],
  [UNREACHABLE] or [AGE]. `placeholders()` tells which names a condition needs, so that
  configuration can be checked at start-up against what the probe offers.
- Only [BODY] may be followed by a path: `.key` picks a member of an object and `[index]` an
  element of an array, counting from 0. Keys are letters, digits, underscores and hyphens, so
  `.2024` is the key "2024" while `[0]` is the first element.
- A constant: an integer (200), a decimal (0.5), a string in double quotes written as in JSON
  ("ok", "say \\"hi\\""), true, false or null.

Operators: == and != compare any two values; <, <=, > and >= compare numbers only.

Types are kept honest. Numbers compare by value, so 200 equals 200.0, but a number never equals
a string or a boolean: when a body says {"code": "200"}, `[BODY].code == 200` fails and
`[BODY].code == "200"` passes. Guessing that "200" meant 200 would hide a changed API.

Evaluating never raises over what a probe observed. A placeholder the probe gave no value for,
or a body path that leads nowhere, fails the condition whatever the operator. The description
shows the value seen next to each placeholder, as Gatus does, with values spelled as in JSON:

    [STATUS] (503) == 200
    [BODY].d.results[0].UserID ("") != ""
    [BODY].d.results[0].UserID (missing) != ""
    [RESPONSE_TIME] (812) < 800
    [BODY].count ("10") >= 10 — only numbers can be compared with >=

Response times are rounded to whole milliseconds before they are compared, so a description can
never read "(800) < 800" and pass.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import ge, gt, le, lt
from typing import Any, TypeGuard


class ConditionError(ValueError):
    """A condition that cannot be parsed; the message quotes it and says what is wrong."""

    def __init__(self, text: str, problem: str) -> None:
        super().__init__(f"'{text}': {problem}")
        self.text = text
        self.problem = problem


class Operator(enum.StrEnum):
    EQUAL = "=="
    NOT_EQUAL = "!="
    LESS = "<"
    LESS_OR_EQUAL = "<="
    GREATER = ">"
    GREATER_OR_EQUAL = ">="

    @property
    def orders(self) -> bool:
        """Whether the operator puts numbers in order, rather than testing for equality."""
        return self not in (Operator.EQUAL, Operator.NOT_EQUAL)


@dataclass(frozen=True)
class Placeholder:
    """`[NAME]`, something the probe observed; for [BODY], optionally with a path into it."""

    name: str
    path: tuple[str | int, ...] = ()

    def __str__(self) -> str:
        steps = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in self.path)
        return f"[{self.name}]{steps}"


@dataclass(frozen=True)
class Constant:
    """A value written in the condition itself, kept as written for descriptions."""

    value: int | float | str | bool | None
    source: str

    def __str__(self) -> str:
        return self.source


Operand = Placeholder | Constant


@dataclass(frozen=True)
class Condition:
    """One comparison, parsed once at start-up and evaluated after every run of its probe."""

    left: Operand
    operator: Operator
    right: Operand
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class ConditionResult:
    """The verdict on one condition; the description shows what was seen, e.g. `[STATUS] (503) == 200`."""

    condition: str
    success: bool
    description: str


def parse(text: str) -> Condition:
    """The condition written in `text`; raises ConditionError saying what is wrong and where."""
    try:
        return _parse(text)
    except _Problem as problem:
        raise ConditionError(text, str(problem)) from None


def placeholders(condition: Condition) -> set[str]:
    """The names of the placeholders the condition needs, e.g. {"STATUS"} or {"BODY"}."""
    return {operand.name for operand in (condition.left, condition.right) if isinstance(operand, Placeholder)}


def evaluate(condition: Condition, values: Mapping[str, object]) -> ConditionResult:
    """Whether the condition holds for what the probe observed, and a description showing it.

    `values` maps placeholder names to observations: numbers, strings, booleans, None, or for
    BODY the parsed JSON (dicts and lists) or the raw text. Anything JSON cannot spell is a
    probe's mistake, and raises TypeError.
    """
    left = _resolve(condition.left, values)
    right = _resolve(condition.right, values)
    description = f"{_show(condition.left, left)} {condition.operator} {_show(condition.right, right)}"
    if left is _MISSING or right is _MISSING:
        # The probe did not see what the condition asks about, so it cannot vouch for it.
        return ConditionResult(condition.text, False, description)
    if condition.operator.orders and not (_is_number(left) and _is_number(right)):
        reason = f"only numbers can be compared with {condition.operator}"
        return ConditionResult(condition.text, False, f"{description} — {reason}")
    return ConditionResult(condition.text, _COMPARISONS[condition.operator](left, right), description)


def evaluate_all(conditions: Iterable[Condition], values: Mapping[str, object]) -> list[ConditionResult]:
    """Every condition evaluated against the same observations, in the order given."""
    return [evaluate(condition, values) for condition in conditions]


def all_passed(results: Iterable[ConditionResult]) -> bool:
    """Whether every condition held; a probe without conditions has nothing that can fail."""
    return all(result.success for result in results)


# Parsing ----------------------------------------------------------------------------------------

_OPERATOR_CHOICES = "use one of " + ", ".join(Operator)

# A condition is three tokens. Strings come first because they may hold spaces and operators;
# anything else runs up to a space or an operator character, so "[STATUS]==200" reads fine.
_TOKEN = re.compile(
    r"""
      (?P<string> "(?:[^"\\]|\\.)*" )
    | (?P<unclosed> ".* )                     # a string without its closing quote
    | (?P<operator> [=!<>]+ )
    | (?P<word> [^\s=!<>]+ )                  # a placeholder, a number, true, false or null
    """,
    re.VERBOSE,
)
_PLACEHOLDER = re.compile(r"\[([A-Z0-9_]+)\]")
_PATH_STEP = re.compile(r"\.(?P<key>[\w-]+)|\[(?P<index>[0-9]+)\]")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_KEYWORDS: dict[str, bool | None] = {"true": True, "false": False, "null": None}
_BODY = "BODY"


class _Problem(Exception):
    """What is wrong with a condition; parse() adds which condition it is."""


def _parse(text: str) -> Condition:
    tokens = list(_TOKEN.finditer(text))
    if not tokens:
        raise _Problem("empty condition; write a comparison such as [STATUS] == 200")
    left = _operand(tokens, 0, expected="a left operand")
    operator = _operator(tokens, 1, after=left)
    right = _operand(tokens, 2, expected=f"a right operand after {operator}")
    if len(tokens) > 3:
        rest = text[tokens[3].start() :].rstrip()
        raise _Problem(f"unexpected '{rest}' after {right}; a condition is a single comparison")
    if isinstance(left, Constant) and isinstance(right, Constant):
        raise _Problem("both sides are constants; one side must be a [PLACEHOLDER]")
    return Condition(left, operator, right, text)


def _operand(tokens: list[re.Match[str]], index: int, expected: str) -> Operand:
    if index >= len(tokens):
        raise _Problem(f"expected {expected}")
    token = tokens[index]
    if token.lastgroup == "operator":
        raise _Problem(f"expected {expected}, found '{token[0]}'")
    if token.lastgroup == "unclosed":
        raise _Problem(f"the string '{token[0]}' has no closing double quote")
    if token.lastgroup == "string":
        return _string(token[0])
    if token[0].startswith("["):
        return _placeholder(token[0])
    return _constant(token[0])


def _operator(tokens: list[re.Match[str]], index: int, after: Operand) -> Operator:
    if index >= len(tokens):
        raise _Problem(f"expected an operator after {after}; {_OPERATOR_CHOICES}")
    token = tokens[index]
    if token.lastgroup != "operator":
        raise _Problem(f"expected an operator after {after}, found '{token[0]}'; {_OPERATOR_CHOICES}")
    try:
        return Operator(token[0])
    except ValueError:
        raise _Problem(f"unknown operator '{token[0]}'; {_OPERATOR_CHOICES}") from None


def _string(token: str) -> Constant:
    try:
        # JSON's own rules, so that a value shown in a description can be pasted into a condition.
        return Constant(json.loads(token, strict=False), token)
    except json.JSONDecodeError as error:
        raise _Problem(f"'{token}' is not a valid JSON string: {error.msg}") from None


def _placeholder(token: str) -> Placeholder:
    name = _PLACEHOLDER.match(token)
    if name is None:
        raise _Problem(f"'{token}' is not a placeholder; names are upper case letters, digits and underscores")
    path = token[name.end() :]
    if path and name[1] != _BODY:
        raise _Problem(f"only [BODY] can be followed by a path, not [{name[1]}]")
    return Placeholder(name[1], _path_steps(path))


def _path_steps(path: str) -> tuple[str | int, ...]:
    steps: list[str | int] = []
    position = 0
    while position < len(path):
        step = _PATH_STEP.match(path, position)
        if step is None:
            raise _Problem(
                f"the body path goes wrong at '{path[position:]}'; "
                "each step is .key or [index], as in [BODY].items[0].id"
            )
        steps.append(step["key"] if step["index"] is None else int(step["index"]))
        position = step.end()
    return tuple(steps)


def _constant(token: str) -> Constant:
    if token in _KEYWORDS:
        return Constant(_KEYWORDS[token], token)
    if _NUMBER.fullmatch(token):
        return Constant(float(token) if "." in token else int(token), token)
    raise _Problem(f"'{token}' is not a number, a quoted string, true, false, null or a [PLACEHOLDER]")


# Evaluation -------------------------------------------------------------------------------------

# Stands for a value the probe did not see; unlike None, which is a JSON null it did see.
_MISSING = object()

# Fractions of a millisecond are noise in a response time, and clutter its description.
_WHOLE_MILLISECONDS = frozenset({"RESPONSE_TIME"})

# Beyond this many characters a value is cut short: a description is one line, not a body dump.
_LONGEST_SHOWN = 80


def _equal(left: object, right: object) -> bool:
    """Equal values of the same type: 200 equals 200.0, but not "200" and not true."""
    if _is_number(left) and _is_number(right):
        return left == right
    return type(left) is type(right) and left == right


_COMPARISONS: dict[Operator, Callable[[Any, Any], bool]] = {
    Operator.EQUAL: _equal,
    Operator.NOT_EQUAL: lambda left, right: not _equal(left, right),
    Operator.LESS: lt,
    Operator.LESS_OR_EQUAL: le,
    Operator.GREATER: gt,
    Operator.GREATER_OR_EQUAL: ge,
}


def _is_number(value: object) -> TypeGuard[int | float]:
    # Python counts True as the integer 1; a condition does not.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _resolve(operand: Operand, values: Mapping[str, object]) -> object:
    """The value the operand stands for, or _MISSING when the probe did not see it."""
    if isinstance(operand, Constant):
        return operand.value
    value = values.get(operand.name, _MISSING)
    for step in operand.path:
        value = _step_into(value, step)
    if operand.name in _WHOLE_MILLISECONDS and _is_number(value) and math.isfinite(value):
        # Halves round up, as people expect; round() would round 812.5 down to the even 812.
        value = math.floor(value + 0.5)
    return value


def _step_into(value: object, step: str | int) -> object:
    if isinstance(step, int):
        return value[step] if isinstance(value, list) and step < len(value) else _MISSING
    return value.get(step, _MISSING) if isinstance(value, dict) else _MISSING


def _show(operand: Operand, value: object) -> str:
    """The operand as written, followed for a placeholder by the value seen: `[STATUS] (503)`."""
    if isinstance(operand, Constant):
        return operand.source
    return f"{operand} ({_spell(value)})"


def _spell(value: object) -> str:
    if value is _MISSING:
        return "missing"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    spelled = json.dumps(value, ensure_ascii=False)
    return spelled if len(spelled) <= _LONGEST_SHOWN else spelled[:_LONGEST_SHOWN] + "…"
