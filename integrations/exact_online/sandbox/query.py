"""OData query options as Exact Online's REST API takes them: `$filter`, `$select`, `$top`, `$orderby`.

`$filter` is parsed by `odata-query` (PyPI), a maintained OData parser, into an AST that is evaluated here
against plain rows. That parser speaks OData v4; Exact Online speaks v2/v3 literals (`guid'...'`,
`datetime'...'`, `123L`, `1.5M`). `v4_spelling` rewrites exactly those literals, outside quoted strings, into
their v4 form before parsing; nothing else about the expression changes.

Rows are dicts with Python values: `str` (GUIDs lower-cased), `int`, `float`, `bool`, `None`, and naive
`datetime` in Exact's local time (Europe/Amsterdam), which is also how a `datetime'...'` literal is read.

Supported: `and`, `or`, `not`, `eq`, `ne`, `gt`, `ge`, `lt`, `le`, `in`, parentheses; literals of strings,
integers, decimals, booleans, `null`, GUIDs, dates and datetimes; the functions `trim`, `tolower`, `toupper`,
`startswith`, `endswith`, v4's `contains` and v2's `substringof` (with a string literal first). Anything else
is a `QueryError` (the API answers 400).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

Row = dict[str, Any]
Predicate = Callable[[Row], bool]

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

_LEXER = ODataLexer()
_PARSER = ODataParser()

# Left to right: v2's substringof('text', Field) (v4 has contains(Field, 'text')), a quoted string (kept as it
# is, so nothing inside it is rewritten), a v2 typed literal, or a number with a v2 type suffix (L Int64,
# M decimal, D double, F single).
_V2_LITERAL = re.compile(
    r"(?P<substringof>\bsubstringof\(\s*(?P<needle>'(?:[^']|'')*')\s*,\s*(?P<haystack>\w+)\s*\))"
    r"|(?P<typed>\b(?P<kind>guid|datetime|datetimeoffset)'(?P<body>[^']*)')"
    r"|(?P<string>'(?:[^']|'')*')"
    r"|(?<![\w.])(?P<number>[+-]?\d+(?:\.\d+)?)[lLmMdDfF](?!\w)",
    re.IGNORECASE,
)
_MINUTES_ONLY = re.compile(r"T\d{2}:\d{2}$")
_ORDER_TERM = re.compile(r"^\s*(?P<name>\w+)(?:\s+(?P<direction>asc|desc))?\s*$", re.IGNORECASE)


class QueryError(Exception):
    """The query cannot be answered: the API replies 400 with this message."""


def v4_spelling(expression: str) -> str:
    """`ID eq guid'A-..' and Timestamp gt 5L` becomes `ID eq A-.. and Timestamp gt 5`, for the v4 parser."""

    def rewrite(match: re.Match[str]) -> str:
        if match["substringof"] is not None:
            return f"contains({match['haystack']}, {match['needle']})"
        if match["string"] is not None:
            return match["string"]
        if match["number"] is not None:
            return match["number"]
        body = match["body"]
        if match["kind"].lower() != "guid" and _MINUTES_ONLY.search(body):
            body += ":00"  # v2 allows datetime'2026-11-30T01:00'; v4 wants the seconds
        return body

    return _V2_LITERAL.sub(rewrite, expression)


def parse_filter(expression: str, fields: Iterable[str]) -> Predicate:
    """A predicate over rows for `$filter`; `fields` are the properties the entity has."""
    try:
        tree = _PARSER.parse(_LEXER.tokenize(v4_spelling(expression)))
    except ODataException as exc:
        raise QueryError(f"The filter {expression!r} cannot be parsed: {exc}") from None
    except Exception as exc:  # noqa: BLE001 (sly raises bare errors on some inputs)
        raise QueryError(f"The filter {expression!r} cannot be parsed: {type(exc).__name__}") from None
    value = _compile(tree, frozenset(fields))

    def predicate(row: Row) -> bool:
        return value(row) is True

    return predicate


def apply_filter(rows: Iterable[Row], expression: str, fields: Iterable[str]) -> list[Row]:
    predicate = parse_filter(expression, fields)
    return [row for row in rows if predicate(row)]


def parse_select(text: str, fields: Sequence[str]) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise QueryError("$select names no property.")
    known = set(fields)
    for name in names:
        if name not in known:
            raise QueryError(f"Property {name} does not exist.")
    return names


def parse_top(text: str) -> int:
    if not text.strip().isdigit():
        raise QueryError(f"$top must be a whole number, not {text!r}.")
    return int(text)


def order_by(rows: list[Row], text: str, fields: Iterable[str]) -> list[Row]:
    """`$orderby=Name desc, Code`: sorted by each term in turn; null sorts before any value."""
    known = set(fields)
    terms: list[tuple[str, bool]] = []
    for part in text.split(","):
        match = _ORDER_TERM.match(part)
        if match is None:
            raise QueryError(f"$orderby term {part.strip()!r} is not understood.")
        if match["name"] not in known:
            raise QueryError(f"Property {match['name']} does not exist.")
        terms.append((match["name"], (match["direction"] or "asc").lower() == "desc"))
    ordered = list(rows)
    for name, descending in reversed(terms):  # stable sorts, least significant first
        ordered.sort(key=partial(_sort_key, name), reverse=descending)
    return ordered


def _sort_key(name: str, row: Row) -> tuple[bool, Any]:
    value = row.get(name)
    return (False, 0) if value is None else (True, value)


def local_datetime(text: str) -> datetime:
    """A `datetime'...'` literal as Exact reads it: local time in Europe/Amsterdam. One with a zone is converted."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is None else moment.astimezone(AMSTERDAM).replace(tzinfo=None)


Value = Callable[[Row], Any]

_COMPARISONS: dict[type[ast._Comparator], tuple[str, Callable[[Any, Any], bool]]] = {
    ast.Eq: ("eq", operator.eq),
    ast.NotEq: ("ne", operator.ne),
    ast.Gt: ("gt", operator.gt),
    ast.GtE: ("ge", operator.ge),
    ast.Lt: ("lt", operator.lt),
    ast.LtE: ("le", operator.le),
}

_STRING_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "trim": str.strip,
    "tolower": str.lower,
    "toupper": str.upper,
    # Exact's database collation ignores case, in these as in eq.
    "startswith": lambda text, start: text.lower().startswith(start.lower()),
    "endswith": lambda text, end: text.lower().endswith(end.lower()),
    "contains": lambda haystack, needle: needle.lower() in haystack.lower(),
}


def _compile(node: ast._Node, fields: frozenset[str]) -> Value:
    match node:
        case ast.BoolOp(op=ast.And(), left=left, right=right):
            first, second = _compile(left, fields), _compile(right, fields)
            return lambda row: first(row) is True and second(row) is True
        case ast.BoolOp(op=ast.Or(), left=left, right=right):
            first, second = _compile(left, fields), _compile(right, fields)
            return lambda row: first(row) is True or second(row) is True
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            inner = _compile(operand, fields)
            return lambda row: inner(row) is not True
        case ast.Compare(comparator=ast.In(), left=left, right=ast.List(val=items)):
            value = _compile(left, fields)
            options = [_literal(item) for item in items]
            return lambda row: any(_compare("eq", operator.eq, value(row), option) for option in options)
        case ast.Compare(comparator=comparator, left=left, right=right) if type(comparator) in _COMPARISONS:
            name, compare = _COMPARISONS[type(comparator)]
            first, second = _compile(left, fields), _compile(right, fields)
            return lambda row: _compare(name, compare, first(row), second(row))
        case ast.Identifier(name=name, namespace=()):
            if name not in fields:
                raise QueryError(f"Property {name} does not exist.")
            return lambda row: row.get(name)
        case ast.Call(func=ast.Identifier(name=function), args=args) if function.lower() in _STRING_FUNCTIONS:
            apply = _STRING_FUNCTIONS[function.lower()]
            values = [_compile(arg, fields) for arg in args]

            def call(row: Row) -> Any:
                arguments = [value(row) for value in values]
                if any(argument is None for argument in arguments):
                    return None
                if not all(isinstance(argument, str) for argument in arguments):
                    raise QueryError(f"{function} takes strings.")
                return apply(*arguments)

            return call
        case ast._Literal():
            constant = _literal(node)
            return lambda row: constant
    raise QueryError(f"The sandbox does not support {type(node).__name__} in $filter.")


def _literal(node: ast._Node) -> Any:
    match node:
        case ast.String(val=text):
            return text
        case ast.Integer(val=text):
            return int(text)
        case ast.Float(val=text):
            return float(text)
        case ast.Boolean(val=text):
            return text.lower() == "true"
        case ast.Null():
            return None
        case ast.GUID(val=text):
            return text.lower()
        case ast.DateTime(val=text):
            return local_datetime(text)
        case ast.Date(val=text):
            return datetime.combine(date.fromisoformat(text), datetime.min.time())
    raise QueryError(f"The sandbox does not support {type(node).__name__} literals.")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _compare(name: str, compare: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    if left is None or right is None:
        # OData: null equals only null; an ordering with null is false.
        return compare(left is None, right is None) if name in ("eq", "ne") else False
    if _kind(left) != _kind(right):
        raise QueryError(f"Operator '{name}' incompatible with operand types {_kind(left)} and {_kind(right)}.")
    if isinstance(left, str):
        left, right = left.lower(), right.lower()  # Exact's database collation ignores case
    return compare(left, right)
