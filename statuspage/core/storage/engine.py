"""The database engine: connections, transactions, and the async Store (one writer thread, a few readers).

The shape is Datasette's: one writer thread owns the only write connection and runs each unit of
work inside BEGIN IMMEDIATE ... COMMIT; reads run on a small pool of threads, each with its own
connection, so SQLite never blocks the event loop and a slow write never blocks a read (WAL mode).
Other processes (the CLI) may write to the same file; the store notices through PRAGMA data_version.

Moments are stored as ISO-8601 text in UTC with microseconds, which sorts as time does.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import secrets
import sqlite3
import string
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, overload

from sqlite_utils import Database

from statuspage.core.storage.migrations import migrations

P = ParamSpec("P")
T = TypeVar("T")
Row = dict[str, Any]

BUSY_TIMEOUT_MS = 5000
READER_THREADS = 2

# ---------------------------------------------------------------------------------------------
# Connections and transactions


def connect(path: str | Path, *, read_only: bool = False) -> Database:
    """A connection usable from whichever thread owns it, waiting on locks instead of failing.

    `read_only` opens the file with SQLite's `mode=ro`: a reader that tried to write would fail
    instead of taking the write lock from the one writer thread.
    """
    if read_only:
        uri = f"{Path(path).resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    else:
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    db = Database(conn)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA foreign_keys = ON")
    return db


class DatabaseUnavailable(Exception):
    """The database file cannot be opened or made: its directory is missing or not writable, or the file is no
    SQLite database. The message names the file and why, for one line on the command line."""


def open_database(path: str | Path) -> Database:
    """Connect, switch to WAL and bring the schema up to date. Run once at start-up.

    Several processes may start on the same file at once (`serve --workers N`, a `worker` beside it):
    the migrations run under an exclusive lock on `<path>.lock`, so they are applied exactly once and
    no process reads the schema half-way. Raises `DatabaseUnavailable` when the file cannot be opened.
    """
    with migration_lock(path):
        try:
            db = connect(path)
        except sqlite3.DatabaseError as error:
            raise DatabaseUnavailable(_unavailable(path, error)) from None
        try:
            db.enable_wal()
        except sqlite3.DatabaseError as error:
            db.close()
            raise DatabaseUnavailable(_unavailable(path, error)) from None
        db.execute("PRAGMA synchronous = NORMAL")
        migrations.apply(db)
    return db


def _unavailable(path: str | Path, error: Exception) -> str:
    directory = Path(path).parent
    if isinstance(error, FileNotFoundError) or not directory.is_dir():
        why = f"its directory {directory} does not exist"
    elif isinstance(error, PermissionError):
        why = f"no permission to write in {directory}"
    elif isinstance(error, OSError):
        why = error.strerror or str(error)
    elif "not a database" in str(error):
        why = "it is not an SQLite database"
    else:
        why = str(error)
    return f"cannot open the database {path}: {why}"


@contextlib.contextmanager
def migration_lock(path: str | Path) -> Iterator[None]:
    """An exclusive advisory lock (flock) on `<path>.lock`, held while the block runs; blocks until free.
    `DatabaseUnavailable` when the lock file cannot be made (the database's directory is missing, say)."""
    try:
        lock = open(f"{path}.lock", "a")  # noqa: SIM115 (closed by the with below, after the error is told apart)
    except OSError as error:
        raise DatabaseUnavailable(_unavailable(path, error)) from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    # IMMEDIATE takes the write lock up front: a deferred transaction that upgrades to a write
    # fails with SQLITE_BUSY at once instead of waiting for the busy timeout.
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@contextlib.contextmanager
def read_transaction(db: Database) -> Iterator[Database]:
    """Several SELECTs that see one consistent state of the file."""
    db.conn.execute("BEGIN")
    try:
        yield db
    finally:
        db.conn.execute("COMMIT")


class Store:
    """The async face of the database: one writer thread, a few reader threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.generation = 0  # bumped on every change to the data, ours or another process's
        # The database's page_version: moves only when something the public page shows changed (triggers).
        self.page_version = 0
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._readers = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._read_dbs: list[Database] = []
        self._write_db: Database | None = None
        self._data_version: int | None = None

    def open(self) -> None:
        """Migrate and open the write connection, on the writer thread that will own it."""
        self._write_db = self._writer.submit(open_database, self.path).result()
        self._data_version = self._writer.submit(self._read_data_version).result()
        self.page_version = self._writer.submit(self._read_page_version).result()

    def close(self) -> None:
        self._readers.shutdown(wait=True)
        for db in self._read_dbs:
            db.close()
        self._writer.submit(self._close_writer).result()
        self._writer.shutdown(wait=True)

    def _close_writer(self) -> None:
        if self._write_db is not None:
            self._write_db.close()
            self._write_db = None

    async def write(self, work: Callable[..., T], *args: Any) -> T:
        """Run `work(db, *args)` in one write transaction on the writer thread."""
        result, changed = await asyncio.get_running_loop().run_in_executor(self._writer, self._run_write, work, args)
        if changed:
            self.generation += 1
        return result

    def _run_write(self, work: Callable[..., T], args: Sequence[Any]) -> tuple[T, bool]:
        assert self._write_db is not None, "Store.open() was not called"
        before = self._write_db.conn.total_changes
        with write_transaction(self._write_db) as db:
            result = work(db, *args)
        changed = self._write_db.conn.total_changes != before
        if changed:
            self.page_version = self._read_page_version()
        return result, changed

    async def read(self, work: Callable[..., T], *args: Any) -> T:
        """Run `work(db, *args)` in one read transaction on a reader thread."""
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._run_read, work, args)

    def _run_read(self, work: Callable[..., T], args: Sequence[Any]) -> T:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path, read_only=True)
            self._read_dbs.append(db)
        with read_transaction(db):
            return work(db, *args)

    async def notice_external_changes(self) -> bool:
        """Bump the generation if another process wrote to the file since the last look."""
        version = await asyncio.get_running_loop().run_in_executor(self._writer, self._read_data_version)
        changed = version != self._data_version
        self._data_version = version
        if changed:
            self.generation += 1
            self.page_version = await asyncio.get_running_loop().run_in_executor(self._writer, self._read_page_version)
        return changed

    def _read_page_version(self) -> int:
        assert self._write_db is not None, "Store.open() was not called"
        return int(self._write_db.execute("SELECT version FROM page_version").fetchone()[0])

    def _read_data_version(self) -> int:
        assert self._write_db is not None, "Store.open() was not called"
        return int(self._write_db.execute("PRAGMA data_version").fetchone()[0])


# ---------------------------------------------------------------------------------------------
# Values


@overload
def iso(moment: datetime) -> str: ...
@overload
def iso(moment: None) -> None: ...
@overload
def iso(moment: datetime | None) -> str | None: ...
def iso(moment: datetime | None) -> str | None:
    """A moment as stored: ISO 8601 text in UTC with microseconds, which sorts as time does (None stays None)."""
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


@overload
def moment(text: str) -> datetime: ...
@overload
def moment(text: None) -> None: ...
@overload
def moment(text: str | None) -> datetime | None: ...
def moment(text: str | None) -> datetime | None:
    """A stored moment back as an aware datetime (None stays None)."""
    return None if text is None else datetime.fromisoformat(text)


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid an INSERT just gave its row."""
    if cursor.lastrowid is None:
        raise RuntimeError("the statement inserted no row")
    return int(cursor.lastrowid)


def json_or_none(value: Any) -> str | None:
    """A value as JSON text for a nullable column (keys sorted, so equal values store equal text)."""
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def json_loads_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_id() -> str:
    """Opaque ids of twelve characters, the form hosted status pages use."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


