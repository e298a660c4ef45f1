"""Requests and replies (the sandbox kit's, `integrations.sandboxes.messages`), and Exact Online's error shape."""

from __future__ import annotations

from integrations.sandboxes.messages import Reply, Request, html_reply, json_reply

__all__ = ["Reply", "Request", "error_reply", "html_reply", "json_reply"]


def error_reply(status: int, message: str, *, reason: str | None = None, code: str = "") -> Reply:
    """Exact Online's error shape; a 403 says whose problem it is in its `Reason` header."""
    body = {"error": {"code": code, "message": {"lang": "en-US", "value": message}}}
    return json_reply(status, body, {"Reason": reason} if reason else None)
