"""Requests and replies as plain values, so a sandbox's rules can be written without a server in view."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import msgspec


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    """The first value of each query parameter."""
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    base_url: str
    """How the client reached us, e.g. `http://127.0.0.1:8123`: the links and URLs we hand out lead back here."""

    def form(self) -> dict[str, str]:
        """The body as `application/x-www-form-urlencoded`: the first value of each field."""
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
    done: Callable[[], None] | None = None
    """Called under the sandbox's lock when the wait is over, just before the answer is written (e.g. the call
    stops counting as in flight)."""


def json_reply(status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, msgspec.json.encode(document), {"Content-Type": "application/json", **(headers or {})})


def html_reply(status: int, html: str) -> Reply:
    return Reply(status, html.encode(), {"Content-Type": "text/html; charset=utf-8"})


def text_reply(status: int, text: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8", **(headers or {})})
