"""The connector interface every accounting system implements, and the errors it speaks in.

A connector is one connection (one customer environment, one connection user) to one accounting system.
The service hands it invoice actions; the connector carries them out over the system's own HTTP API and
says, in typed exceptions, why it could not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import msgspec

Clock = Callable[[], datetime]
"""Where "now" comes from: timezone-aware UTC. Injected everywhere so tests can set the time."""

Sleep = Callable[[float], Awaitable[None]]
"""How to wait a number of seconds. Injected so tests can let time pass without waiting."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class ActionKind(StrEnum):
    BOOK = "book"
    BOOK_AND_BLOCK = "book_and_block"
    UNBLOCK = "unblock"
    CREATE_SUPPLIER = "create_supplier"
    CREATE_CUSTOMER = "create_customer"
    MIRROR_INSERT = "mirror_insert"
    """A row a mirror rule inserts into another accounting system (seed 001): written by the service, never handed in."""
    MIRROR_UPDATE = "mirror_update"
    """A row a mirror rule in insert-and-update mode changes in the target: written by the service, never handed in."""

    @property
    def handed_in(self) -> bool:
        """Whether the invoice product may hand an action of this kind in (mirror writes are the service's own)."""
        return self not in MIRROR_KINDS


INVOICE_KINDS = frozenset({ActionKind.BOOK, ActionKind.BOOK_AND_BLOCK, ActionKind.UNBLOCK, ActionKind.CREATE_SUPPLIER,
                           ActionKind.CREATE_CUSTOMER})
"""What the invoice product hands in: the actions a booking integration (Exact Online, Twinfield) carries out."""
MIRROR_KINDS = frozenset({ActionKind.MIRROR_INSERT, ActionKind.MIRROR_UPDATE})
"""What mirror rules write into their target integration (Visma.net)."""


class InvoiceAction(msgspec.Struct, frozen=True, kw_only=True):
    """One thing the invoice product asks of the accounting system.

    `payload` stays a plain dict so the outbox can store it as JSON; its shape per kind is in `payloads.py`.
    """

    idempotency_key: str
    kind: ActionKind
    administration: str
    payload: dict[str, Any]


class ActionResult(msgspec.Struct, frozen=True, kw_only=True):
    """What the accounting system says it did: `administration` is where it landed, not where we asked."""

    administration: str
    reference: str
    entry_number: str | None = None
    entry_id: str | None = None
    amount: float | None = None


class Administration(msgspec.Struct, frozen=True):
    code: str
    name: str


class ConnectionUser(msgspec.Struct, frozen=True, kw_only=True):
    """The accounting-system user a connection runs under: the person who last clicked "Connect"."""

    user_id: str
    user_name: str
    full_name: str
    current_administration: str


class Health(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    latency_ms: float
    detail: str


class Right(msgspec.Struct, frozen=True):
    """Permission to call `action` (an HTTP method) on `endpoint`, in the accounting system's own terms."""

    endpoint: str
    action: str


class Connector(Protocol):
    def rights_needed(self, kind: ActionKind) -> tuple[Right, ...]:
        """Every right an action of this kind uses, reads included: a read without its right may answer an
        empty list instead of an error, and an empty lookup must never be mistaken for "not booked yet"."""
        ...

    async def check_health(self) -> Health: ...

    async def connection_user(self) -> ConnectionUser: ...

    async def accessible_administrations(self) -> list[Administration]: ...

    async def has_right(self, administration: str, endpoint: str, action: str) -> bool: ...

    async def execute(self, action: InvoiceAction) -> ActionResult:
        """Carry the action out once. Ambiguous sends are looked up before they are repeated, so one call
        never books twice. An action that failed in an earlier call must be looked up with `find_result`
        before it is executed again."""
        ...

    async def find_result(self, action: InvoiceAction) -> ActionResult | None:
        """The result of an earlier attempt, or None when it left no trace. For an action of several steps
        (book and block) whose first step is found, the remaining idempotent steps are finished here, so a
        result always means the whole action is done."""
        ...


class ConnectorError(Exception):
    """Anything a connector raises on purpose. Messages never carry secrets."""


class InvalidAction(ConnectorError):
    """The action cannot be sent as given (its payload or administration is malformed); retrying won't help."""


class NoAccess(ConnectorError):
    """The connection user may not do this in this administration. Nothing was booked: the action is undone.

    `remote_reason` is the accounting system's own word when it, rather than our check, refused.
    """

    def __init__(self, administration: str, reason: str, *, remote_reason: str | None = None) -> None:
        super().__init__(f"no access to administration {administration}: {reason}")
        self.administration = administration
        self.reason = reason
        self.remote_reason = remote_reason


class Misroute(ConnectorError):
    """Booked, but into another administration than asked: the books need repair, the integration must stop."""

    def __init__(self, asked: str, booked: str, entry_number: str | None, entry_id: str | None) -> None:
        super().__init__(f"asked for administration {asked}, booked into {booked} as entry {entry_number}")
        self.asked = asked
        self.booked = booked
        self.entry_number = entry_number
        self.entry_id = entry_id


class RateLimited(ConnectorError):
    """The accounting system will not take calls before `retry_at`; waiting in-call would take too long."""

    def __init__(self, retry_at: datetime, detail: str = "rate limit reached") -> None:
        super().__init__(f"{detail}; retry at {retry_at.isoformat()}")
        self.retry_at = retry_at


class TransientError(ConnectorError):
    """Server errors or timeouts outlasted the retries. Nothing is known to have happened; try again later."""


class OutcomeUnknown(ConnectorError):
    """A send may or may not have taken effect, and looking it up failed too. Look it up before resending."""

    def __init__(self, idempotency_key: str, detail: str) -> None:
        super().__init__(f"outcome of {idempotency_key!r} unknown: {detail}")
        self.idempotency_key = idempotency_key


class AuthorizationError(ConnectorError):
    """The connection itself is unusable (token rejected, user blocked, licence expired): someone must reconnect
    or fix the account. `reason` is the accounting system's word for it, when it gave one."""

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if reason else detail)
        self.reason = reason


class RemoteError(ConnectorError):
    """Any other refusal by the accounting system, with its status, error code, message and `Reason` header."""

    def __init__(self, status: int, code: str, message: str, reason: str | None = None) -> None:
        super().__init__(f"HTTP {status}{' ' + reason if reason else ''}: {message or code or 'no message'}")
        self.status = status
        self.code = code
        self.message = message
        self.reason = reason
