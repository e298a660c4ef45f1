"""The little language of mirror rules' mappings, as plain Python: parse once, evaluate per row.

Seed 001 maps an Exact Online relation to a Visma.net customer in SQL: `'EOL-' || to_char(code) accountreference`,
`name` unchanged. A rule says the same in the configuration:

    identified_by = 'reference = "EOL-" + trim(code)'      # the target's key field = an expression
    fields = { name = "name" }                             # target field = expression, per field

An expression is terms joined by `+` (concatenation); a term is a string literal in double or single quotes, a
field of the source row (`code`, `name`: the names the mirror keeps, `[a-z_][a-z0-9_]*`), or a function of one
expression: `trim` (spaces off both ends), `upper`, `lower`. Values that are not text (numbers) are written as
text, as `to_char` would.

Nulls, as in SQL: a missing field is null, and so is a field that is empty or only spaces once trimmed; `+` with a
null side is null. A row whose key comes out null has no key: it is skipped, never matched (seed 001's "ignore
nulls", applied to both sides).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

FUNCTIONS: dict[str, Callable[[str], str]] = {"trim": str.strip, "upper": str.upper, "lower": str.lower}

_TOKEN = re.compile(r"""\s*(?:(?P<string>"[^"]*"|'[^']*')|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<symbol>[+()=]))""")

Value = str | None
Row = Mapping[str, Any]


class MappingError(ValueError):
    """A mapping that does not parse, with what to write instead (the configuration check names the key)."""


@dataclass(frozen=True)
class Expression:
    """A parsed expression: `evaluate(row)` gives text or None; `fields` are the source fields it reads."""

    text: str
    fields: frozenset[str]
    evaluate: Callable[[Row], Value]


def as_text(value: Any) -> Value:
    """A value as the mappings see it: text, or None for a missing, empty or blank one (numbers written as text)."""
    if type(value) is str:  # the common case first: a run maps every field of every row
        return value if value and not value.isspace() else None
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise MappingError(f"cannot read {text[position:].strip()!r} in {text!r}: write fields, \"text\", "
                               f"trim(...), upper(...), lower(...) joined by +")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match[kind]))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0
        self.fields: set[str] = set()

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise MappingError(f"{self.text!r} ends too soon: an expression is expected after it")
        self.position += 1
        return token

    def expect(self, symbol: str) -> None:
        kind, value = self.take()
        if (kind, value) != ("symbol", symbol):
            raise MappingError(f"expected {symbol!r} in {self.text!r}, found {value!r}")

    def expression(self) -> Callable[[Row], Value]:
        parts = [self.term()]
        while self.peek() == ("symbol", "+"):
            self.take()
            parts.append(self.term())
        if len(parts) == 1:
            return parts[0]

        def concatenation(row: Row) -> Value:
            texts: list[str] = []
            for part in parts:
                text = part(row)
                if text is None:
                    return None
                texts.append(text)
            return "".join(texts)

        return concatenation

    def term(self) -> Callable[[Row], Value]:
        kind, value = self.take()
        if kind == "string":
            literal = value[1:-1]
            return lambda row: literal
        if kind == "name" and self.peek() == ("symbol", "("):
            function = FUNCTIONS.get(value.lower())
            if function is None:
                raise MappingError(f"unknown function {value!r} in {self.text!r}; known: {', '.join(FUNCTIONS)}")
            self.take()
            inner = self.expression()
            self.expect(")")

            def applied(row: Row) -> Value:
                text = inner(row)
                return None if text is None else as_text(function(text))

            return applied
        if kind == "name":
            field = value
            self.fields.add(field)
            return lambda row: as_text(row.get(field))
        raise MappingError(f"unexpected {value!r} in {self.text!r}")


def parse(text: str) -> Expression:
    """Parse an expression; `MappingError` saying what is wrong."""
    parser = _Parser(text)
    evaluate = parser.expression()
    if parser.peek() is not None:
        raise MappingError(f"unexpected {parser.peek()[1]!r} in {text!r}: join terms with +")  # type: ignore[index]
    return Expression(text.strip(), frozenset(parser.fields), evaluate)


def parse_assignment(text: str) -> tuple[str, Expression]:
    """`'reference = "EOL-" + trim(code)'` -> ("reference", the expression); `MappingError` otherwise."""
    target, equals, expression = text.partition("=")
    target = target.strip()
    if not equals or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", target):
        raise MappingError(f"{text!r} must read TARGET_FIELD = EXPRESSION, like 'reference = \"EOL-\" + trim(code)'")
    return target, parse(expression)
