"""Requests and replies as plain values, so the sandbox's rules can be written without a server in view."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import msgspec


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    base_url: str
    """How the client reached us, e.g. `http://127.0.0.1:8123`: links we hand out (`__next`) lead back here."""

    def form(self) -> dict[str, str]:
        return {name: values[0] for name, values in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering, outside the sandbox's lock: latency and hangs."""


def json_reply(status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, msgspec.json.encode(document), {"Content-Type": "application/json", **(headers or {})})


def error_reply(status: int, message: str, *, reason: str | None = None, code: str = "") -> Reply:
    """Exact Online's error shape; a 403 says whose problem it is in its `Reason` header."""
    body = {"error": {"code": code, "message": {"lang": "en-US", "value": message}}}
    return json_reply(status, body, {"Reason": reason} if reason else None)


def html_reply(status: int, html: str) -> Reply:
    return Reply(status, html.encode(), {"Content-Type": "text/html; charset=utf-8"})
