"""A second accounting system's master data, registered in this test alone, synced into the mirror through the whole
service: asked over the API, read through the reader its registry description makes (every call through the shared
call budget as the sync class), served as the change feed and shown on the monitoring API. Nothing outside the
fake's own definitions here had to change for it — which is what `MasterData` in the registry is for."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from typing import Any

import pytest
from conftest import TEST_CONFIG, TOKENS
from fake_books_helpers import FakeConnector
from litestar.testing import TestClient

from integrations.budget import CallClass
from integrations.call_budget import current_class
from integrations.master_data import DeletionPage, Deletions, MasterDataPage, ReadOptions, SyncEntity
from integrations.registry import ConnectMethod, ConnectorContext, Integration, IntegrationSettings, MasterData
from statuspage.app import create_app
from statuspage.config import load_settings
from statuspage.core.installed import INSTALLED

KEY = "fake-ledger"


class FakeLedger:
    """An accounting system's master data in memory, per administration: rows with a version that goes up on
    every change, hidden rows, and a feed of deleted accounts. `calls` counts each read with its call class."""

    def __init__(self) -> None:
        self.version = 0
        self.relations: dict[str, dict[str, dict[str, Any]]] = {}
        self.accounts: dict[str, dict[str, dict[str, Any]]] = {}
        self.deleted_accounts: list[tuple[int, str, str]] = []  # (version, administration, code)
        self.calls: list[tuple[str, CallClass]] = []

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]
        for administration in ("F1", "F2"):
            for n in range(5):
                self.put_relation(administration, f"R{n}", f"Relation {n}")
            for n in range(3):
                self.put_account(administration, f"{4000 + n}", f"Account {n}")

    def put_relation(self, administration: str, code: str, name: str, *, hidden: bool = False) -> None:
        self.version += 1
        self.relations.setdefault(administration, {})[code] = {
            "code": code, "name": name, "hidden": hidden, "version": self.version}

    def put_account(self, administration: str, number: str, description: str) -> None:
        self.version += 1
        self.accounts.setdefault(administration, {})[number] = {
            "number": number, "description": description, "version": self.version}

    def delete_account(self, administration: str, number: str) -> None:
        self.version += 1
        del self.accounts[administration][number]
        self.deleted_accounts.append((self.version, administration, number))


LEDGER = FakeLedger()


class FakeReader:
    """The fake's `MasterDataReader`: cursors are the ledger's version as text; two rows a page."""

    def __init__(self, context: ConnectorContext, options: ReadOptions) -> None:
        self.context, self.page_size = context, options.page_size or 2

    async def _call(self, administration: str, what: str) -> None:
        async with self.context.budget.call(KEY, administration):
            LEDGER.calls.append((what, current_class()))

    async def changes(self, administration: str, entity: str, cursor: str | None) -> AsyncIterator[MasterDataPage]:
        since = int(cursor or 0)
        table = LEDGER.relations if entity == "relations" else LEDGER.accounts
        rows = sorted((row for row in table[administration].values() if row["version"] > since),
                      key=lambda row: row["version"])
        if not rows:
            await self._call(administration, entity)
            yield MasterDataPage([], cursor, True)
            return
        for start in range(0, len(rows), self.page_size):
            await self._call(administration, entity)
            page = rows[start:start + self.page_size]
            yield MasterDataPage([row for row in page if not row.get("hidden")], str(page[-1]["version"]),
                                 start + self.page_size >= len(rows),
                                 deleted=[row["code"] for row in page if row.get("hidden")])

    def everything(self, administration: str, entity: str) -> AsyncIterator[MasterDataPage]:
        return self.changes(administration, entity, None)

    async def deletions(self, administration: str, entities: Collection[str], cursor: str | None
                        ) -> AsyncIterator[DeletionPage]:
        await self._call(administration, "deleted")
        since = int(cursor or 0)
        gone = [(version, number) for version, where, number in LEDGER.deleted_accounts
                if where == administration and version > since]
        keys = {"accounts": [number for _, number in gone]} if "accounts" in entities else {}
        yield DeletionPage(keys, str(max([since, *(version for version, _ in gone)])), True)

    async def budget_key(self, administration: str) -> str:
        return administration


FAKE = Integration(
    key=KEY, name="Fake Ledger", administration_term="office", connect_method=ConnectMethod.CREDENTIALS,
    settings_type=IntegrationSettings, make_connector=FakeConnector,  # connects as the booking fake does
    master_data=MasterData(
        entities=(SyncEntity("relations", "code", ("code", "name"), Deletions.IN_CHANGES),
                  SyncEntity("accounts", "number", ("number", "description"), Deletions.FEED)),
        make_reader=FakeReader,
    ),
)
REGISTRY = INSTALLED.with_(FAKE)

CONFIG = TEST_CONFIG + """
[sync]
enabled = false

[[environments]]
key = "fake-environment"
name = "Fake Environment"
integration = "fake-ledger"
administrations = [{ code = "F1", name = "Office one" }, { code = "F2", name = "Office two" }]
"""


def header(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "statuspage.toml"
    path.write_text(CONFIG)
    LEDGER.reset()
    return load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "fake.db")}, registry=REGISTRY)


@pytest.fixture
def client(settings, clock, tokens):
    with TestClient(create_app(settings, clock=clock, registry=REGISTRY), base_url=settings.page.url) as test_client:
        test_client.blocking_portal.call(test_client.app.state.links[KEY].connect, "fake-environment", "robin", "test")
        yield test_client


def sync(client: TestClient, **task: Any) -> dict[str, Any]:
    asked = client.post("/api/v1/sync-tasks", json={"environment": "fake-environment", **task},
                        headers=header("operator"))
    assert asked.status_code == 202, asked.text
    client.blocking_portal.call(client.app.state.sync.settle)
    done = client.get(f"/api/v1/sync-tasks/{asked.json()['id']}", headers=header("viewer")).json()
    assert done["state"] == "done", done
    return done


def feed(client: TestClient, administration: str, entity: str, after: int = 0) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/sync/fake-environment/{administration}/{entity}?after={after}",
                        headers=header("client"))
    assert answer.status_code == 200, answer.text
    return answer.json()["rows"]


def test_a_registered_integrations_master_data_is_mirrored_and_fed(client) -> None:
    full = sync(client, kind="full")
    runs = {(run["administration"], run["entity"]): run for run in full["runs"]}
    assert set(runs) == {(a, e) for a in ("F1", "F2") for e in ("relations", "accounts")}
    assert runs[("F1", "relations")]["inserted"] == 5 and runs[("F1", "relations")]["calls"] == 3
    relations = feed(client, "F1", "relations")
    assert {row["key"]: row["content"] for row in relations} == {
        f"R{n}": {"code": f"R{n}", "name": f"Relation {n}"} for n in range(5)}, "only the fields the mirror keeps"
    assert {row["key"] for row in feed(client, "F2", "accounts")} == {"4000", "4001", "4002"}
    assert LEDGER.calls and {cls for _, cls in LEDGER.calls} == {CallClass.SYNC}, "every read is the sync class"

    after = {entity: feed(client, "F1", entity)[-1]["seq"] for entity in ("relations", "accounts")}
    LEDGER.put_relation("F1", "R1", "Relation één")
    LEDGER.put_relation("F1", "R9", "Relation new")
    LEDGER.put_relation("F1", "R3", "Relation 3", hidden=True)
    LEDGER.delete_account("F1", "4001")
    incremental = sync(client, kind="incremental", administration="F1")
    changed = feed(client, "F1", "relations", after["relations"])
    assert sorted((row["key"], row["deleted"], row["content"]["name"]) for row in changed) == [
        ("R1", False, "Relation één"), ("R3", True, "Relation 3"), ("R9", False, "Relation new")]
    [gone] = feed(client, "F1", "accounts", after["accounts"])
    assert (gone["key"], gone["deleted"]) == ("4001", True)
    runs = {run["entity"]: run for run in incremental["runs"]}
    assert (runs["relations"]["inserted"], runs["relations"]["changed"], runs["relations"]["deleted"]) == (1, 1, 1)
    assert runs["accounts"]["deleted"] == 1 and runs["deleted"]["state"] == "done"

    overview = client.get("/api/v1/sync/runs", headers=header("viewer")).json()
    [fake] = [e for e in overview["environments"] if e["key"] == "fake-environment"]
    assert fake["integration"] == KEY and {run["entity"] for run in fake["runs"]} >= {"relations", "accounts"}
    unknown = client.get("/api/v1/sync/fake-environment/F1/payments", headers=header("client"))
    assert unknown.status_code == 400 and "known: relations, accounts" in unknown.text
    budgets = {(b["integration"], b["administration"]): b
               for b in client.get("/api/v1/budgets", headers=header("viewer")).json()}
    assert budgets[(KEY, "F1")]["calls_today"]["sync"] >= 3
