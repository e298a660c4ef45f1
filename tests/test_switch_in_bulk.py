"""A kill switch moves its actions as a set (issue 15): one UPDATE, and their transitions written as one row
per run of consecutive actions. What each action shows of its history stays the same, and so does a database
written before the change, once migrated."""

import json
import random
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from conftest import TEST_CONFIG
from exact_online_service_helpers import DEMO_ENVIRONMENTS

from statuspage.actions import outbox, switches
from statuspage.config import load_settings
from statuspage.core import storage
from statuspage.core.operation import Actor
from statuspage.core.storage.engine import connect
from statuspage.core.storage.migrations import migrations

OLGA = Actor("olga")


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + DEMO_ENVIRONMENTS)
    return load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "bulk.db")})


def book(key: str, environment: str, administration: str) -> outbox.ActionRequest:
    return msgspec.convert({
        "idempotency_key": key, "integration": "exact-online", "environment": environment,
        "administration": administration, "kind": "book",
        "payload": {"journal": "60", "supplier": "S001", "entry_date": "2026-11-20", "description": f"Invoice {key}",
                    "lines": [{"gl_account": "4000", "amount": 121.0, "vat_code": "2"}]}}, outbox.ActionRequest)


def test_runs_are_consecutive_ids() -> None:
    assert storage.runs([]) == []
    assert storage.runs([4]) == [(4, 4)]
    assert storage.runs([1, 2, 3, 7, 9, 10]) == [(1, 3), (7, 7), (9, 10)]


def test_a_switch_writes_a_row_per_run_and_every_action_still_shows_each_of_its_transitions(seed, settings) -> None:
    # 10 actions of De Vries, 5 of Jansen, 10 of De Vries: switching De Vries off moves two runs of ten.
    layout = [("bakkerij-de-vries", "101")] * 10 + [("jansen-groep", "201")] * 5 + [("bakkerij-de-vries", "102")] * 10

    def hand_in(db) -> list[int]:
        return [outbox.accept(db, settings, "invoice-product", seed.clock(), book(f"K{n}", *where))[0]
                for n, where in enumerate(layout)]

    ids = seed(hand_in)
    devries = [i for i, (environment, _) in zip(ids, layout, strict=True) if environment == "bakkerij-de-vries"]
    jansen = [i for i, (environment, _) in zip(ids, layout, strict=True) if environment == "jansen-groep"]

    def flip(enabled: bool):
        return lambda db: switches.switch(db, settings, OLGA, seed.clock(), integration="exact-online",
                                          environment="bakkerij-de-vries", enabled=enabled, reason="wrong bookings")

    assert seed(flip(False)).moved == 20

    def look(db):
        return (db.execute("SELECT count(*) FROM action_moves WHERE to_state = 'delayed'").fetchone()[0],
                db.execute("SELECT count(*) FROM action_transitions WHERE to_state = 'delayed'").fetchone()[0],
                {i: [(t.from_state, t.to_state, t.cause) for t in storage.transitions_of(db, i)] for i in ids},
                dict(db.execute("SELECT state, count(*) FROM actions GROUP BY state").fetchall()))

    runs, per_action, transitions, states = seed(look)
    assert (runs, per_action) == (2, 20)
    assert states == {"delayed": 20, "queued": 5}
    for i in devries:
        assert transitions[i] == [(None, "queued", "received"),
                                  ("queued", "delayed", "switched off by olga: wrong bookings")]
    for i in jansen:
        assert transitions[i] == [(None, "queued", "received")]

    # One of them cancelled in between: it is final, and the replay passes it by.
    seed(lambda db: outbox.cancel(db, settings, OLGA, seed.clock(), devries[3]))
    change = seed(flip(True))
    assert change.moved == 19

    runs, per_action, transitions, states = seed(look)
    assert states == {"queued": 24, "cancelled": 1}
    assert transitions[devries[3]][-1] == ("delayed", "cancelled", "cancelled by olga")
    for i in devries[:3] + devries[4:]:
        assert transitions[i][-1] == ("delayed", "queued", "replayed: switched on by olga")
        assert len(transitions[i]) == 3
    replayed = seed(lambda db: db.execute("SELECT count(*) FROM actions WHERE replay_id = ?",
                                          [change.replay_id]).fetchone()[0])
    assert replayed == 19
    left = seed(lambda db: [r.left for r in storage.unfinished_replays(db) if r.id == change.replay_id])
    assert left == [19]


def test_a_database_written_before_the_narrow_actions_keeps_every_action_and_transition(tmp_path) -> None:
    path = tmp_path / "old.db"
    db = connect(path)
    db.enable_wal()
    migrations.apply(db, stop_before="m018_narrow_actions")
    # Two actions as the old schema held them: one done (with its whole history), one still queued.
    for n, state in ((1, "done"), (2, "queued")):
        db.execute("INSERT INTO actions (id, client, idempotency_key, fingerprint, integration, environment, "
                   "administration, kind, payload, state, created_at, updated_at) VALUES (?, 'p', ?, ?, 'exact-online', "
                   "'bakkerij-de-vries', '101', 'book', ?, ?, '2026-11-20T08:00:00.000000+00:00', ?)",
                   [n, f"K{n}", f"f{n}", json.dumps({"n": n}), state, f"2026-11-20T08:0{n}:00.000000+00:00"])
        db.execute("INSERT INTO action_transitions (action_id, at, from_state, to_state, cause) VALUES (?, ?, NULL, "
                   "'queued', 'received')", [n, "2026-11-20T08:00:00.000000+00:00"])
    for before, to, cause in (("queued", "running", "sent"), ("running", "done", "booked")):
        db.execute("INSERT INTO action_transitions (action_id, at, from_state, to_state, cause) "
                   "VALUES (1, '2026-11-20T08:01:00.000000+00:00', ?, ?, ?)", [before, to, cause])
    db.conn.commit()
    db.close()

    db = storage.open_database(path)
    try:
        one, two = storage.action(db, 1), storage.action(db, 2)
        assert (one.payload, one.fingerprint, one.finished_at) == ({"n": 1}, "f1",
                                                                 datetime(2026, 11, 20, 8, 1, tzinfo=UTC))
        assert (two.payload, two.state, two.finished_at) == ({"n": 2}, "queued", None)
        assert [t.to_state for t in storage.transitions_of(db, 1)] == ["queued", "running", "done"]
        assert [t.to_state for t in storage.transitions_of(db, 2)] == ["queued"]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        db.close()


def test_each_lane_heads_with_its_first_open_action_however_the_lanes_interleave(seed) -> None:
    """`lane_heads` seeks lane by lane through the index of open actions; a plain reading of the rule on every
    row must give the same heads."""
    rng = random.Random(15)
    lanes = [(integration, environment, administration) for integration in ("exact-online", "twinfield")
             for environment in ("a", "b", "c") for administration in ("1", "2")]
    now = seed.clock()
    later = now + timedelta(minutes=5)

    def fill(db) -> list[dict]:
        made = []
        for n in range(400):
            integration, environment, administration = rng.choice(lanes)
            action_id = storage.insert_action(db, storage.NewAction(
                client="p", idempotency_key=f"K{n}", fingerprint="f", integration=integration,
                environment=environment, administration=administration, kind="book", payload="{}",
                state="queued"), now, "received")
            state = rng.choice(["queued", "queued", "delayed", "running", "done", "failed", "cancelled"])
            if state != "queued":
                storage.move_action(db, action_id, expected="queued", to=state, now=now, cause="test")
            if state == "queued" and rng.random() < 0.2:
                db.execute("UPDATE actions SET not_before = ? WHERE id = ?", [storage.iso(later), action_id])
            made.append({"id": action_id, "lane": (integration, environment, administration), "state": state,
                         "due": not (state == "queued" and db.execute(
                             "SELECT not_before FROM actions WHERE id = ?", [action_id]).fetchone()[0])})
        return made

    made = seed(fill)
    expected = []
    for lane in lanes:
        open_ones = [m for m in made if m["lane"] == lane and m["state"] in ("queued", "running", "delayed")]
        if open_ones and open_ones[0]["state"] == "queued" and open_ones[0]["due"]:
            expected.append(open_ones[0]["id"])
    heads = seed(lambda db: [row.id for row in storage.lane_heads(db, now, [], 100)])
    assert heads == sorted(expected)
    assert len(heads) >= 3  # the layout is one that tests something
    closed = seed(lambda db: [row.integration for row in storage.lane_heads(db, now, ["integration:twinfield"], 100)])
    assert set(closed) <= {"exact-online"}
