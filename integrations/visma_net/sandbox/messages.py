"""Requests and replies (the sandbox kit's, `integrations.sandboxes.messages`), Visma's JSON content type and its
error shapes."""

from __future__ import annotations

from typing import Any

import msgspec

from integrations.sandboxes.messages import Reply, Request

__all__ = ["Reply", "Request", "gateway_error", "ipp_error", "json_reply"]


def json_reply(status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
    """JSON as Visma's gateway sends it: `application/json; charset=utf-8`."""
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
