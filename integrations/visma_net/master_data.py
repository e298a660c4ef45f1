"""Visma.net's customers read into the service's mirror (`integrations.master_data`): the target side of mirror
rules, so that a rule reconciles locally instead of asking Visma.net for every customer on every run.

- `changes`: `GET /v1/customer?lastModifiedDateTime=<since>&lastModifiedDateTimeCondition=>=`, a page a call. The
  list is ordered by `internalId`, not by change, so only the last page carries the cursor: the newest
  `lastModifiedDateTime` read. The next read starts `OVERLAP` before it (inclusive), so a customer saved while a
  read ran, or stamped by a clock a little behind ours, is read next time; rows read again unchanged cost nothing in
  the mirror (their hash is the same).
- `everything`: every customer (a full read; it alone notices a customer deleted by hand, since Visma.net has no
  deletion feed and no API delete).

Rows keep the `Customer` fields by their plain names (`reference` is Visma's `accountReference`); the key is the
customer `number`. Every call goes through the connection's shared client, and so through the service's call
budget for the company, as the sync class the engine names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from datetime import datetime, timedelta
from typing import Any

import msgspec

from integrations.master_data import DeletionPage, Deletions, MasterDataPage, ReadOptions, SyncEntity
from integrations.visma_net.connector import CUSTOMERS, VismaNetConnector
from integrations.visma_net.customers import Customer

OVERLAP = timedelta(minutes=5)

SYNC_ENTITIES = (SyncEntity(
    CUSTOMERS, key="number",
    fields=("number", "name", "reference", "status", "internal_id", "corporate_id", "vat_registration_id",
            "created", "last_modified"),
    deletions=Deletions.FULL_READ),)
"""What the mirror keeps of Visma.net: its customers, by number."""


class VismaNetMasterData:
    """A `MasterDataReader` of one connection's companies. Cursors are the newest `lastModifiedDateTime` read, ISO
    text with its offset."""

    def __init__(self, connector: VismaNetConnector, options: ReadOptions) -> None:
        self.connector = connector
        self.page_size = options.page_size

    async def changes(self, administration: str, entity: str, cursor: str | None) -> AsyncIterator[MasterDataPage]:
        since = None if cursor is None else datetime.fromisoformat(cursor) - OVERLAP
        async for page in self._pages(administration, entity, since, cursor):
            yield page

    def everything(self, administration: str, entity: str) -> AsyncIterator[MasterDataPage]:
        return self._pages(administration, entity, None, None)

    async def deletions(self, administration: str, entities: Collection[str], cursor: str | None
                        ) -> AsyncIterator[DeletionPage]:
        """Visma.net reports no deletions (its entity says `Deletions.FULL_READ`): never asked, nothing to give."""
        return
        yield  # makes this an async generator that gives nothing

    async def budget_key(self, administration: str) -> str:
        """Visma's limits are per company (and client): the company is the budget's key."""
        return administration

    async def _pages(self, administration: str, entity: str, since: datetime | None, cursor: str | None
                     ) -> AsyncIterator[MasterDataPage]:
        if entity != CUSTOMERS:
            raise ValueError(f"Visma.net mirrors {CUSTOMERS} only, not {entity!r}")
        company = await self.connector.company(administration)
        newest = None if cursor is None else datetime.fromisoformat(cursor)
        async for customers, last in self.connector.client.paged_customers(company, modified=since,
                                                                          page_size=self.page_size):
            for customer in customers:
                if customer.last_modified is not None and (newest is None or customer.last_modified > newest):
                    newest = customer.last_modified
            yield MasterDataPage([_row(customer) for customer in customers],
                                 newest.isoformat() if last and newest is not None else None, last)


def _row(customer: Customer) -> dict[str, Any]:
    return {field.name: getattr(customer, field.name) for field in msgspec.structs.fields(Customer)}

