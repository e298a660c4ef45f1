"""Reading Exact Online's answers: the `{"d": ...}` envelope, and errors turned into typed exceptions.

An error has the body `{"error": {"code": "...", "message": {"lang": "...", "value": "..."}}}` and, on a 403,
a `Reason` header that says whose problem it is: the administration's (the action is undone) or the
connection's (someone must reconnect or fix the account).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import msgspec

from integrations.base import (
    AuthorizationError,
    ConnectorError,
    NoAccess,
    RateLimited,
    RemoteError,
    TransientError,
)

ADMINISTRATION_REASONS = frozenset({"NoDivisionAccess", "DivisionBlocked"})
CONNECTION_REASONS = frozenset({"BlockedUser", "InactiveUser", "BlockedCustomer", "LicenseExpired"})


class _Message(msgspec.Struct):
    value: str = ""


class _Error(msgspec.Struct):
    code: str = ""
    message: _Message | str = ""


class _ErrorBody(msgspec.Struct):
    error: _Error


def error_from_response(response: httpx.Response, administration: str | None, now: datetime) -> ConnectorError:
    status = response.status_code
    reason = response.headers.get("Reason") or None
    code, message = _code_and_message(response.content)
    if reason in ADMINISTRATION_REASONS and administration is not None:
        return NoAccess(administration, f"Exact Online refused: {reason}{': ' + message if message else ''}",
                        remote_reason=reason)
    if reason in CONNECTION_REASONS or status == 401:
        return AuthorizationError(message or "access token refused", reason=reason)
    if status == 429:
        return RateLimited(now + retry_after(response, default=timedelta(minutes=1)), message or "too many requests")
    if status >= 500:
        return TransientError(f"Exact Online answered HTTP {status}{': ' + message if message else ''}")
    return RemoteError(status, code, message, reason)


def retry_after(response: httpx.Response, *, default: timedelta) -> timedelta:
    try:
        return timedelta(seconds=float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return default


def _code_and_message(content: bytes) -> tuple[str, str]:
    try:
        error = msgspec.json.decode(content, type=_ErrorBody).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return "", ""
    message = error.message.value if isinstance(error.message, _Message) else error.message
    return error.code, message


def unwrap(response: httpx.Response) -> Any:
    """The `d` of an answer: a list page `{"results": [...], "__next": ...}`, or one entity."""
    return msgspec.json.decode(response.content)["d"]


def single(data: dict[str, Any]) -> dict[str, Any]:
    """Some endpoints (current/Me) wrap their one entity in a results list."""
    results = data.get("results")
    return results[0] if isinstance(results, list) else data
