"""Reading Twinfield's dimensions for the service's master-data sync, through the Finder.

Twinfield's Finder type `DIM` lists an office's dimensions of one type (option `dimtype`: `CRD` suppliers, `DEB`
customers, `BAS` balance-sheet and `PNL` profit-and-loss accounts, `KPL` cost centres, `PRJ` projects) as code and
name, a page per call (`firstRow`, `maxRows`); option `modifiedsince` (`yyyyMMddHHmmss`) keeps only those changed
since then, and hidden dimensions are left out unless option `hidden` is `1`. Each entity of the mirror is one or
more dimension types (`DIMENSION_ENTITIES`), keyed by the dimension's code.

- **Full read** (`everything`): every visible dimension of the entity's types. A hidden dimension is absent, so the
  service's reconciliation leaves a tombstone for it, as for one deleted.
- **Incremental read** (`changes`) from the cursor (the moment of the last read): first every dimension changed
  since then *including* hidden ones (codes only), then the visible ones changed since then (their rows); a code
  in the first set and not in the second was hidden (a tombstone, `Deletions.IN_CHANGES`). In that order a
  dimension hidden, unhidden or added between the two reads still ends right. The Finder answers code and name
  only, so hiding is told apart this way rather than by a status column. When nothing changed, one call.
- **Cursor**: the read's start by the service's clock minus `overlap` (5 minutes), in UTC as `yyyyMMddHHmmss`. The
  Finder returns no modification times, so the bound cannot follow the rows; the overlap re-reads what changed
  while a read ran (those rows hash the same and only their last-seen moves). Twinfield does not document the time
  zone of `modifiedsince`: UTC is the safe reading, since a bound read as Dutch local time lies earlier, not later.

Every call goes through `TwinfieldClient` (the organisation's turn in the call budget, its concurrency gate,
429s waited out, retries), as the bookings' calls do; the service makes them as the budget's sync class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from integrations.base import Clock
from integrations.master_data import DeletionPage, Deletions, MasterDataPage, SyncEntity
from integrations.twinfield.client import TwinfieldClient, budget_key

DIMENSIONS = "DIM"
FINDER_PAGE = 100
"""Rows a Finder call asks for unless the service sets a page size."""
DEFAULT_OVERLAP = timedelta(minutes=5)
MODIFIED_SINCE_FORMAT = "%Y%m%d%H%M%S"


@dataclass(frozen=True)
class DimensionEntity:
    """An entity of the mirror as Twinfield holds it: the dimension types it gathers."""

    name: str
    dimension_types: tuple[str, ...]


DIMENSION_ENTITIES = {entity.name: entity for entity in (
    DimensionEntity("suppliers", ("CRD",)),
    DimensionEntity("customers", ("DEB",)),
    DimensionEntity("gl_accounts", ("BAS", "PNL")),
    DimensionEntity("cost_centers", ("KPL",)),
    DimensionEntity("projects", ("PRJ",)),
)}
"""Every entity the sync mirrors from Twinfield, in reading order."""

FIELDS = ("code", "name", "dimension_type")
"""What the mirror keeps of a dimension: its code (the key), its name, and its type (`BAS` or `PNL` tells a GL
account's side)."""

SYNC_ENTITIES = tuple(SyncEntity(entity.name, "code", FIELDS, Deletions.IN_CHANGES)
                      for entity in DIMENSION_ENTITIES.values())
"""`DIMENSION_ENTITIES` as the service's sync sees them."""


def modified_since(moment: datetime) -> str:
    """The Finder's `modifiedsince` value of an aware moment: UTC, `yyyyMMddHHmmss`."""
    return moment.astimezone(UTC).strftime(MODIFIED_SINCE_FORMAT)


class TwinfieldMasterData:
    """Twinfield's `integrations.master_data.MasterDataReader` over the Finder: an administration is an office.

    `TwinfieldMasterData(client, clock, page_size=None, overlap=DEFAULT_OVERLAP)`. Raises what `TwinfieldClient`
    raises: `NoAccess` for an office the connection user cannot open, `RateLimited`, `TransientError`,
    `AuthorizationError`, `RemoteError` (the Finder's own messages, word for word)."""

    def __init__(self, client: TwinfieldClient, clock: Clock, *, page_size: int | None = None,
                 overlap: timedelta = DEFAULT_OVERLAP) -> None:
        self.client, self.clock = client, clock
        self.page_size = page_size or FINDER_PAGE
        self.overlap = overlap

    async def changes(self, office: str, entity: str, cursor: str | None) -> AsyncIterator[MasterDataPage]:
        """Dimensions changed since `cursor` (every visible one when None); hidden ones as deleted codes."""
        if cursor is None:
            async for page in self.everything(office, entity):
                yield page
            return
        next_cursor = self._next_cursor()
        types = DIMENSION_ENTITIES[entity].dimension_types
        changed: set[str] = set()
        # First pass: every dimension changed since the cursor, hidden or not (codes only).
        async for rows, _, final in self._pages(office, types, [("modifiedsince", cursor), ("hidden", "1")]):
            changed.update(row[0] for row in rows)
            if final and not changed:
                yield MasterDataPage([], next_cursor, True)  # nothing changed: this was the only call
                return
            yield MasterDataPage([], None, False)
        # Second pass: the visible ones, as rows; what the first pass saw and this one does not was hidden.
        visible: set[str] = set()
        async for rows, dimension_type, final in self._pages(office, types, [("modifiedsince", cursor)]):
            found = [_row(row, dimension_type) for row in rows]
            visible.update(row["code"] for row in found)
            yield MasterDataPage(found, next_cursor if final else None, final,
                                 deleted=sorted(changed - visible) if final else ())

    async def everything(self, office: str, entity: str) -> AsyncIterator[MasterDataPage]:
        """Every visible dimension of the entity's types; the last page carries the cursor for the next read."""
        next_cursor = self._next_cursor()
        types = DIMENSION_ENTITIES[entity].dimension_types
        async for rows, dimension_type, final in self._pages(office, types, []):
            yield MasterDataPage([_row(row, dimension_type) for row in rows], next_cursor if final else None, final)

    def deletions(self, office: str, entities: Collection[str], cursor: str | None) -> AsyncIterator[DeletionPage]:
        """Twinfield has no deletion feed: hidden dimensions come with the changes (`Deletions.IN_CHANGES`), so
        the service never asks; asked, `NotImplementedError`."""
        raise NotImplementedError("Twinfield reports hidden dimensions among the changes; there is no feed to read")

    async def budget_key(self, office: str) -> str:
        """Twinfield's limits are the organisation's: the budget key of the connection's organisation."""
        return budget_key(await self.client.session())

    def _next_cursor(self) -> str:
        return modified_since(self.clock() - self.overlap)

    async def _pages(self, office: str, dimension_types: tuple[str, ...], options: list[tuple[str, str]]
                     ) -> AsyncIterator[tuple[list[list[str]], str, bool]]:
        """The Finder `DIM` of each type in turn, a page per call: (rows, their type, whether no call follows)."""
        for index, dimension_type in enumerate(dimension_types):
            first = 1
            while True:
                page = await self.client.search(office, DIMENSIONS, first_row=first, max_rows=self.page_size,
                                                options=[("dimtype", dimension_type), *options])
                first += len(page.rows)
                last = not page.rows or first > page.total
                yield page.rows, dimension_type, last and index == len(dimension_types) - 1
                if last:
                    break


def _row(values: list[str], dimension_type: str) -> dict[str, str]:
    """A Finder row (code, name, ...) as the mirror's fields."""
    return {"code": values[0], "name": values[1] if len(values) > 1 else "", "dimension_type": dimension_type}
