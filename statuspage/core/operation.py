"""What every operation shares, whichever area it belongs to: who does it, and how it says no.

An operation is a plain function `work(db, settings, actor, now, ...)` run in one write transaction.
It raises `Refused` when it cannot be done as asked; the web layer turns that into a 400, 404 or
409 for the API, or into the form's error message for the console.
"""

from __future__ import annotations

from dataclasses import dataclass


class Refused(Exception):
    """An operation that cannot be done as asked; the message says what to change."""

    def __init__(self, message: str, *, not_found: bool = False, conflict: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found
        self.conflict = conflict  # it clashes with what exists: a different request under a used key


@dataclass(frozen=True)
class Actor:
    """Who did something, as the audit log names them: a token's name, or the service itself."""

    name: str
