"""The SQLite file: WAL, migrations, one writer, and changes made by other processes noticed."""

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest

from statuspage.core.storage import (
    Store,
    migrations,
    open_database,
    record_status_changes,
    sync_components,
    write_transaction,
)

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def test_the_schema_is_created_in_wal_mode_and_migrating_again_changes_nothing(tmp_path) -> None:
    path = tmp_path / "s.db"
    db = open_database(path)
    assert db.journal_mode == "wal"
    assert {"components", "incidents", "incident_updates", "status_events"} <= set(db.table_names())
    applied = [m.name for m in migrations.applied(db)]
    db.close()
    again = open_database(path)
    assert [m.name for m in migrations.applied(again)] == applied
    assert migrations.pending(again) == []
    again.close()


def test_components_keep_their_creation_time_and_move_updated_at_when_their_definition_changes(tmp_path) -> None:
    db = open_database(tmp_path / "s.db")
    with write_transaction(db):
        sync_components(db, {"exact-online": "v1"}, NOW)
    with write_transaction(db):
        sync_components(db, {"exact-online": "v1"}, NOW + timedelta(hours=1))
    assert db.execute("SELECT created_at, updated_at FROM components").fetchone() == (
        "2026-11-23T09:30:00.000000+00:00", "2026-11-23T09:30:00.000000+00:00",
    )
    with write_transaction(db):
        sync_components(db, {"exact-online": "v2"}, NOW + timedelta(hours=2))
    assert db.execute("SELECT updated_at FROM components").fetchone() == ("2026-11-23T11:30:00.000000+00:00",)


def test_a_failed_unit_of_work_leaves_nothing_behind(tmp_path) -> None:
    db = open_database(tmp_path / "s.db")
    try:
        with write_transaction(db):
            sync_components(db, {"exact-online": "v1"}, NOW)
            raise RuntimeError("half way")
    except RuntimeError:
        pass
    assert db.execute("SELECT count(*) FROM components").fetchone() == (0,)


def test_status_history_only_grows_when_a_status_changes(tmp_path) -> None:
    db = open_database(tmp_path / "s.db")
    with write_transaction(db):
        sync_components(db, {"a": "", "b": ""}, NOW)
        assert record_status_changes(db, {"a": "operational", "b": "operational"}, NOW) == {"a": None, "b": None}
        later = NOW + timedelta(minutes=1)
        assert record_status_changes(db, {"a": "operational", "b": "major_outage"}, later) == {"b": "operational"}
        assert record_status_changes(db, {"a": "operational", "b": "major_outage"}, later + timedelta(minutes=1)) == {}
    assert db.execute("SELECT count(*) FROM status_events").fetchone() == (3,)


def test_the_store_notices_writes_by_another_process_and_not_its_own_reads(tmp_path) -> None:
    path = tmp_path / "s.db"

    async def scenario() -> None:
        store = Store(path)
        store.open()
        try:
            generation = store.generation
            assert await store.notice_external_changes() is False
            await store.read(lambda db: db.execute("SELECT count(*) FROM components").fetchone())
            assert store.generation == generation

            other = sqlite3.connect(path)
            other.execute("INSERT INTO components VALUES ('x', '', '2026-01-01', '2026-01-01')")
            other.commit()
            other.close()
            assert await store.notice_external_changes() is True
            assert store.generation == generation + 1

            # Our own writes bump the generation at once, and only when they change something.
            await store.write(sync_components, {"x": "changed"}, NOW)
            assert store.generation == generation + 2
            await store.write(sync_components, {"x": "changed"}, NOW)
            assert store.generation == generation + 2
        finally:
            store.close()

    asyncio.run(scenario())


def test_reads_are_not_blocked_by_a_long_write(tmp_path) -> None:
    path = tmp_path / "s.db"

    async def scenario() -> None:
        store = Store(path)
        store.open()
        write_started = asyncio.Event()
        read_done = threading.Event()
        loop = asyncio.get_running_loop()

        def write_that_waits_for_the_read(db) -> None:
            sync_components(db, {"x": ""}, NOW)
            loop.call_soon_threadsafe(write_started.set)
            # Holds the write transaction open until the read has finished; were reads blocked
            # by writes, this would never happen and the test would time out.
            assert read_done.wait(timeout=10)

        try:
            writing = asyncio.create_task(store.write(write_that_waits_for_the_read))
            await write_started.wait()
            count = await store.read(lambda db: db.execute("SELECT count(*) FROM components").fetchone()[0])
            read_done.set()
            assert count == 0  # the read saw the state before the uncommitted write
            await writing
            assert await store.read(lambda db: db.execute("SELECT count(*) FROM components").fetchone()[0]) == 1
        finally:
            read_done.set()
            store.close()

    asyncio.run(scenario())


def test_a_read_that_tries_to_write_is_refused_and_changes_nothing(tmp_path) -> None:
    store = Store(tmp_path / "s.db")
    store.open()
    try:
        def sneaky(db) -> None:
            db.execute("INSERT INTO components (id, definition, created_at, updated_at) VALUES ('x', '', '', '')")

        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            asyncio.run(store.read(sneaky))
        assert asyncio.run(store.read(lambda db: db.execute("SELECT count(*) FROM components").fetchone()[0])) == 0
    finally:
        store.close()
