"""Fake Books, a second accounting system registered in tests alone: it keeps its books in memory (BOOKS), connects
with a credential instead of OAuth, and passes every call through the call budget as a real connector does."""

from __future__ import annotations

import hashlib

from integrations.base import (
    ActionKind,
    ActionResult,
    Administration,
    ConnectionUser,
    Health,
    InvoiceAction,
    Right,
)
from integrations.registry import (
    ConnectMethod,
    ConnectorContext,
    Integration,
    IntegrationSettings,
    ProbeKind,
)
from statuspage.core.installed import INSTALLED

KEY = "fake-books"


class FakeBooksSettings(IntegrationSettings, kw_only=True, forbid_unknown_fields=True):
    office_prefix: str = "OFF"


class FakeBooks:
    """An accounting system that keeps its books in memory: every entry booked, by administration."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []  # (administration, idempotency key)


BOOKS = FakeBooks()


class FakeConnector:
    def __init__(self, context: ConnectorContext) -> None:
        self.context = context

    async def connect(self, grant: str) -> ConnectionUser:
        await self.context.credentials.save(grant, hashlib.sha256(grant.encode()).hexdigest())
        return await self.connection_user()

    async def aclose(self) -> None:
        pass

    def rights_needed(self, kind: ActionKind) -> tuple[Right, ...]:
        return (Right("entries", "POST"),)

    async def check_health(self) -> Health:
        return Health(ok=True, latency_ms=0.0, detail="fine")

    async def connection_user(self) -> ConnectionUser:
        user = await self.context.credentials.load()
        assert user is not None
        return ConnectionUser(user_id=user, user_name=user, full_name=f"Fake {user}", current_administration="F1")

    async def accessible_administrations(self) -> list[Administration]:
        async with self.context.budget.call(KEY, "F1"):
            return [Administration("F1", "Office one"), Administration("F2", "Office two")]

    async def has_right(self, administration: str, endpoint: str, action: str) -> bool:
        async with self.context.budget.call(KEY, administration):
            return True

    async def execute(self, action: InvoiceAction) -> ActionResult:
        async with self.context.budget.call(KEY, action.administration):
            BOOKS.entries.append((action.administration, action.idempotency_key))
            return ActionResult(administration=action.administration, reference=action.idempotency_key,
                                entry_number=f"{self.context.settings.office_prefix}-{len(BOOKS.entries)}")

    async def find_result(self, action: InvoiceAction) -> ActionResult | None:
        async with self.context.budget.call(KEY, action.administration):
            found = (action.administration, action.idempotency_key) in BOOKS.entries
        return ActionResult(administration=action.administration, reference=action.idempotency_key) if found else None


FAKE = Integration(
    key=KEY, name="Fake Books", administration_term="office", connect_method=ConnectMethod.CREDENTIALS,
    settings_type=FakeBooksSettings, make_connector=FakeConnector, probe_kinds=(ProbeKind.RIGHTS,),
)
REGISTRY = INSTALLED.with_(FAKE)
