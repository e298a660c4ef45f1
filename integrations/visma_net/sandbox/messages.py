"""Requests and replies as plain values, and Visma's error shapes."""

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
    """How the client reached us, e.g. `http://127.0.0.1:8123`: `Location` headers lead back here."""

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
    """Seconds to wait before answering, outside the sandbox's lock: latency, slow inserts and hangs."""


def json_reply(status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, msgspec.json.encode(document), {"Content-Type": "application/json; charset=utf-8",
                                                         **(headers or {})})


def ipp_error(status: int, message: str, code: str, message_id: str) -> Reply:
    """The ERP API's own error body."""
    return json_reply(status, {"ExceptionType": "IPPException", "ExceptionMessage": message,
                               "ExceptionFaultCode": code, "ExceptionMessageID": f"{code}_{message_id}",
                               "ExceptionDetails": ""})


def gateway_error(status: int, message: str) -> Reply:
    """The API gateway's error body (token refused, throttled, upstream failed)."""
    return json_reply(status, {"statusCode": status, "message": message})
