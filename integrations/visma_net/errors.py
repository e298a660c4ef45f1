"""Visma.net's refusals turned into the connector errors of `integrations.base`, keeping Visma's own message.

The ERP API answers errors as `{"ExceptionType": "IPPException", "ExceptionMessage": "...", "ExceptionFaultCode":
"12002", "ExceptionMessageID": "12002_<guid>", "ExceptionDetails": ""}` (as quoted in Visma's community knowledge
base); the API gateway in front of it answers its own refusals (401, 429) as `{"statusCode": 429, "message":
"..."}`. Both are read; the message is passed on as Visma wrote it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import msgspec

from integrations.base import AuthorizationError, ConnectorError, NoAccess, RateLimited, RemoteError, TransientError


class _ErrorBody(msgspec.Struct):
    ExceptionType: str = ""
    ExceptionMessage: str = ""
    ExceptionFaultCode: str = ""
    message: str = ""


def code_and_message(content: bytes) -> tuple[str, str]:
    try:
        body = msgspec.json.decode(content, type=_ErrorBody)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return "", ""
    return body.ExceptionFaultCode, body.ExceptionMessage or body.message


def retry_after(response: httpx.Response, default: float) -> float:
    """`Retry-After` in seconds, as Visma sends it with every 429."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return default


def error_from_response(response: httpx.Response, company: str, now: datetime) -> ConnectorError:
    status = response.status_code
    code, message = code_and_message(response.content)
    if status == 401:
        return AuthorizationError(message or "access token refused", reason=code or None)
    if status == 403:
        return NoAccess(company, f"Visma.net refused: {message or 'forbidden'}", remote_reason=code or None)
    if status == 429:
        return RateLimited(now + timedelta(seconds=retry_after(response, 60.0)), message or "too many requests")
    if status >= 500 or status == 408:  # a request timeout says nothing of the request itself: try again
        return TransientError(f"Visma.net answered HTTP {status}{': ' + message if message else ''}")
    return RemoteError(status, code, message)
