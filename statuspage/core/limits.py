"""The limits of the text the service accepts, as msgspec types that the JSON API and the console's forms
share, so that both refuse the same input with the same message.

Text must be something XML 1.0 can carry (§2.2 `Char`: tab, line feed, carriage return and everything from
U+0020 up, less the surrogates, U+FFFE and U+FFFF), because names and updates end up in the Atom and RSS
feeds, and one illegal character makes a whole feed ill-formed for strict readers. Names and one-line values
allow no control characters at all (they end up in mail subjects too).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeGuard, TypeVar, get_args, get_origin

import msgspec

# Characters XML 1.0 cannot carry, as regex escapes (the patterns stay ASCII in the OpenAPI schema).
XML_ILLEGAL = r"\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
# Characters a one-line value may not hold: every control character, line breaks included.
NOT_ON_ONE_LINE = r"\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff"

TEXT_PATTERN = rf"\A[^{XML_ILLEGAL}]*\Z"
LINE_PATTERN = rf"\A[^{NOT_ON_ONE_LINE}]*\Z"
# Visible ASCII without spaces: a key that travels as a reference into the accounting systems.
VISIBLE_ASCII_PATTERN = r"\A[\x21-\x7e]+\Z"
# What a refusal by one of these patterns says instead of the regex itself.
PATTERN_MESSAGES = {
    TEXT_PATTERN: "must not contain control characters other than tab and line breaks (nor U+FFFE, U+FFFF)",
    LINE_PATTERN: "must be one line without control characters",
    VISIBLE_ASCII_PATTERN: "must be visible ASCII characters only (letters, digits, punctuation; no spaces or accents)",
}

S = TypeVar("S", bound=msgspec.Struct)

NAME_LENGTH = 200
MESSAGE_LENGTH = 20_000
REASON_LENGTH = 500

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_LENGTH, pattern=LINE_PATTERN,
                                   description="one line, 1–200 characters, no control characters")]
Message = Annotated[str, msgspec.Meta(min_length=1, max_length=MESSAGE_LENGTH, pattern=TEXT_PATTERN,
                                      description="Markdown, 1–20,000 characters, no control characters "
                                                  "but tab and line breaks")]
# Empty when the text is given per language instead (`names`, `messages`).
MaybeName = Annotated[str, msgspec.Meta(max_length=NAME_LENGTH, pattern=LINE_PATTERN)]
MaybeMessage = Annotated[str, msgspec.Meta(max_length=MESSAGE_LENGTH, pattern=TEXT_PATTERN)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=REASON_LENGTH, pattern=LINE_PATTERN,
                                     description="one line, 1–500 characters")]
Value = Annotated[str, msgspec.Meta(max_length=NAME_LENGTH, pattern=LINE_PATTERN)]

_XML_ILLEGAL = re.compile(f"[{XML_ILLEGAL}]")


def xml_text(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry: what the feeds write, whatever is stored."""
    return _XML_ILLEGAL.sub("", text)


def readable(message: str) -> str:
    """A msgspec validation message with the shared text patterns said in words, not as a regex."""
    for pattern, words in PATTERN_MESSAGES.items():
        if repr(pattern) in message:
            return message.replace(f"matching regex {pattern!r}", words)
    return message


def convert(values: Mapping[str, Any], into: type[S]) -> S:
    """`values` (a form's fields, already typed where a form cannot say it) as the Struct `into`, checked
    as the JSON API checks its bodies. Raises ValueError with "<field>: <what is wrong>" otherwise."""
    try:
        return msgspec.convert(values, into, strict=False)
    except msgspec.ValidationError as error:
        message, _, path = str(error).partition(" - at `$.")
        field = path.rstrip("`") or "form"
        message = "is required" if message == "Expected `str` of length >= 1" else readable(message)
        allowed = allowed_values(into, field) if message.startswith("Invalid enum value") else None
        if allowed:
            message += f"; must be one of {', '.join(map(repr, allowed))}"
        raise ValueError(f"{field}: {message}") from None


def allowed_values(annotation: object, key: str) -> tuple | None:
    """The Literal values a field accepts; `key` as Litestar writes it: `impact`, `components[...]`, `lines[2].kind`."""
    for part in re.findall(r"\[[^\]]*\]|[^.\[\]]+", key):
        if part.startswith("["):
            origin = get_origin(annotation)
            if origin is dict:
                annotation = get_args(annotation)[1]
            elif origin is list:
                annotation = get_args(annotation)[0]
            else:
                return None
        elif _is_struct(annotation):
            fields = {field.name: field.type for field in msgspec.structs.fields(annotation)}
            if part not in fields:
                return None
            annotation = fields[part]
        else:
            return None
    # An optional one (`ActionState | None`) takes the same values, or none.
    annotation = next((arg for arg in get_args(annotation) if get_origin(arg) is Literal
                       or (isinstance(arg, type) and issubclass(arg, enum.Enum))), annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return tuple(member.value for member in annotation)
    return get_args(annotation) if get_origin(annotation) is Literal else None


def _is_struct(annotation: object) -> TypeGuard[type[msgspec.Struct]]:
    return isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)
