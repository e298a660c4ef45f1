"""Signed tokens for links and round trips: what the service hands out and must recognise as its own.

One scheme for all of them (itsdangerous, a well-kept library for exactly this): a token carries its
value in the clear and an HMAC over it, salted by its purpose, so a token made for one purpose (an
unsubscribe link) never opens another (a confirmation), and a changed value never verifies.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, Signer, URLSafeSerializer


def sign(secret: str, purpose: str, value: Any) -> str:
    """A URL-safe token carrying `value` (anything JSON can hold), valid for `purpose` only."""
    return URLSafeSerializer(secret, salt=purpose).dumps(value)


def unsign(secret: str, purpose: str, token: str) -> Any | None:
    """The value a token was made for, or None when it was not made with `secret` for `purpose`."""
    try:
        return URLSafeSerializer(secret, salt=purpose).loads(token)
    except BadSignature:
        return None


def sign_text(secret: str, purpose: str, text: str) -> str:
    """`text` as it is, followed by `.` and a signature for `purpose`: still readable in a URL, and only the
    service can have made it."""
    return Signer(secret, salt=purpose).sign(text).decode()


def unsign_text(secret: str, purpose: str, token: str) -> str | None:
    """The text a `sign_text` token carries, or None when it was not made with `secret` for `purpose`."""
    try:
        return Signer(secret, salt=purpose).unsign(token).decode()
    except BadSignature:
        return None
