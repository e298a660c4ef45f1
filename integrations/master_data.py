"""What an integration's master data looks like to the service's sync: its entities, and a reader of them.

The service keeps a mirror of each accounting system's master data per environment, administration and entity, and
hands changes on as a feed (`statuspage/sync/`). It knows an accounting system's master data only through this
module: the entity table (`SyncEntity`: name, key field, the fields the mirror keeps, how deletions are learnt) and
a `MasterDataReader` made per connection by the integration (`integrations.registry.MasterData.make_reader`, from
the same `ConnectorContext` as the connector, so every call passes the shared call budget; the sync engine makes
them as the budget's lowest class, `CallClass.SYNC`).

All reads are async iterators of pages, so the engine commits one page (with its cursor) before it asks for the
next, and can stop between pages (a booking waiting, a kill switch) without losing its place. A cursor is the
reader's own text (the engine stores it and gives it back untouched): Exact Online's row version, Twinfield's
modified-since moment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class Deletions(StrEnum):
    """How the accounting system tells that a row of an entity is gone."""

    FEED = "feed"
    """In a feed of its own, read after the entities (`MasterDataReader.deletions`; Exact's `sync/Deleted`)."""
    IN_CHANGES = "in-changes"
    """Among the changed rows, marked gone (`MasterDataPage.deleted`; Twinfield's hidden dimensions)."""
    FULL_READ = "full-read"
    """Not at all: only a full read notices a row that is no longer there."""


@dataclass(frozen=True)
class SyncEntity:
    """One entity the mirror keeps, as the integration describes it."""

    name: str
    """As in the API's paths and the configuration, lower case with underscores: `accounts`, `suppliers`."""
    key: str
    """The field of a row's content that identifies it within the administration (`id`, `code`)."""
    fields: tuple[str, ...]
    """The fields of a row the mirror keeps (and hashes to notice a change): nothing that changes on every read,
    such as a row version."""
    deletions: Deletions = Deletions.FULL_READ


@dataclass(frozen=True)
class MasterDataPage:
    """One call's worth of an entity's rows."""

    rows: Sequence[Mapping[str, Any]]
    """Rows as plain values (datetimes aware), keyed by field name; at least `SyncEntity.key` and `fields`."""
    cursor: str | None
    """Where the next incremental read starts once this page is committed; None keeps the cursor stored before."""
    last: bool
    """No further page follows: the engine makes no further call for this read."""
    deleted: Sequence[str] = ()
    """Keys of rows this page reports gone (`Deletions.IN_CHANGES`): tombstones in the mirror."""


@dataclass(frozen=True)
class DeletionPage:
    """One call's worth of a deletion feed (`Deletions.FEED`)."""

    keys: Mapping[str, Sequence[str]]
    """Entity name -> keys deleted, only for the entities asked."""
    cursor: str
    """Where the feed resumes once this page is committed (one feed per administration, whatever it names)."""
    last: bool


class MasterDataReader(Protocol):
    """Reads one connection's master data, administration by administration (the service's code for it).

    Every method raises what the integration's connector raises (`integrations.base`): `NoAccess`,
    `AuthorizationError` (reconnect), `RateLimited` (a spent daily limit: the engine resumes later from the last
    committed cursor), `TransientError`, `RemoteError` (also for a row it cannot read).
    """

    def changes(self, administration: str, entity: str, cursor: str | None) -> AsyncIterator[MasterDataPage]:
        """Rows of `entity` changed since `cursor` (everything when None), a page per call."""
        ...

    def everything(self, administration: str, entity: str) -> AsyncIterator[MasterDataPage]:
        """Every live row of `entity` (a full read: a row not among them is gone), a page per call; the last
        page's cursor (or the last one given) is where the next incremental read starts."""
        ...

    def deletions(self, administration: str, entities: Collection[str], cursor: str | None
                  ) -> AsyncIterator[DeletionPage]:
        """The deletion feed after `cursor` (from its start when None), for `entities` (those with
        `Deletions.FEED`). Readers of systems without such a feed never get asked."""
        ...

    async def budget_key(self, administration: str) -> str:
        """Which call budget the administration's calls count against (the key the connector's calls use):
        Exact Online's division itself, Twinfield's organisation of the office."""
        ...


@dataclass(frozen=True)
class ReadOptions:
    """What the service asks of every reader it makes."""

    page_size: int | None = None
    """Rows a call at most; None leaves the accounting system's own maximum."""


def entity_table(entities: Sequence[SyncEntity]) -> dict[str, SyncEntity]:
    """The entities by name, in their order; `ValueError` for a name given twice or a key not among the fields."""
    table: dict[str, SyncEntity] = {}
    for entity in entities:
        if entity.name in table:
            raise ValueError(f"entity {entity.name!r} is described twice")
        if entity.key not in entity.fields:
            raise ValueError(f"entity {entity.name!r}: its key {entity.key!r} must be one of the fields it keeps")
        table[entity.name] = entity
    return table
