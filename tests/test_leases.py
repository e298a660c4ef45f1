"""The lease rules (core/lease.py) as tables, and the stored lease and claims that follow them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from statuspage.core import lease, storage
from statuspage.core.lease import Lease, claim_lapsed, may_take

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)


@pytest.mark.parametrize(("current", "holder", "now", "gone", "allowed"), [
    (None, "a", T0, False, True),                               # nobody holds it
    (Lease("background", "a", T0 + 15 * S), "a", T0, False, True),       # the holder renews
    (Lease("background", "a", T0 + 15 * S), "b", T0, False, False),      # another waits while it is live
    (Lease("background", "a", T0 + 15 * S), "b", T0 + 14 * S, False, False),
    (Lease("background", "a", T0 + 15 * S), "b", T0 + 15 * S, False, True),   # lapsed at expires_at exactly
    (Lease("background", "a", T0 + 15 * S), "a", T0 + 15 * S, False, True),   # the late holder retakes a free lease
    (Lease("background", "a", T0 + 15 * S), "b", T0 + 60 * S, False, True),
    (Lease("background", "a", T0 + 15 * S), "b", T0, True, True),        # its holder is known dead
])
def test_who_may_take_the_lease(current, holder, now, gone, allowed) -> None:
    assert may_take(current, holder, now, holder_gone=gone) is allowed


@pytest.mark.parametrize(("deadline", "now", "gone", "lapsed"), [
    (None, T0, False, True),            # claimed before claims had deadlines
    (T0 + 30 * S, T0, False, False),    # a live claim stays its holder's
    (T0 + 30 * S, T0 + 30 * S, False, True),
    (T0 + 30 * S, T0, True, True),      # its process is gone
])
def test_when_a_claim_lapses(deadline, now, gone, lapsed) -> None:
    assert claim_lapsed(deadline, now, holder_gone=gone) is lapsed


def test_a_holder_that_stops_renewing_is_taken_over_within_thirty_seconds() -> None:
    """The worst case: the holder renews, dies; a contender tries every RENEW_EVERY_SECONDS."""
    last_renewal = T0
    held = lease.renewed("background", "a", last_renewal)
    tries = [T0 + k * timedelta(seconds=lease.RENEW_EVERY_SECONDS) for k in range(20)]
    taken_at = next(t for t in tries if may_take(held, "b", t))
    assert taken_at - last_renewal <= timedelta(seconds=30)


def test_a_dead_process_on_this_host_is_known_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host = socket.gethostname()
    assert lease.is_gone(f"{host}:{child.pid}") is True
    assert lease.is_gone(f"{host}:{os.getpid()}") is False
    assert lease.is_gone(f"another-host:{child.pid}") is False
    assert lease.is_gone(None) is False


def test_the_stored_lease_goes_to_one_holder_at_a_time(tmp_path) -> None:
    db = storage.open_database(tmp_path / "lease.db")
    with storage.write_transaction(db):
        assert storage.take_lease(db, "background", "here:1", T0) is True
        assert storage.take_lease(db, "background", "here:2", T0 + S) is False
        assert storage.take_lease(db, "background", "here:1", T0 + 10 * S) is True   # renewed to T0 + 25 s
        assert storage.take_lease(db, "background", "here:2", T0 + 20 * S) is False
        assert storage.take_lease(db, "background", "here:2", T0 + 25 * S) is True
        assert storage.lease(db, "background").holder == "here:2"
        storage.give_up_lease(db, "background", "here:1")  # not its own any more: nothing happens
        assert storage.lease(db, "background").holder == "here:2"
        storage.give_up_lease(db, "background", "here:2")
        assert storage.lease(db, "background") is None
    db.close()


def test_recovery_takes_back_only_lapsed_claims(tmp_path) -> None:
    db = storage.open_database(tmp_path / "claims.db")
    me = lease.process_name()
    with storage.write_transaction(db):
        for n, (holder, until) in enumerate([(me, T0 + 30 * S), (me, T0 - S), (None, None)]):
            action_id = storage.insert_action(db, storage.NewAction(
                client="c", idempotency_key=f"k{n}", fingerprint="f", integration="exact-online",
                environment="e", administration="1", kind="book", payload="{}", state="queued"), T0,
                "test")
            storage.move_action(db, action_id, expected="queued", to="running", now=T0, cause="test",
                                claimed_by=holder, claim_until=None if until is None else storage.iso(until))
        assert sorted(row.idempotency_key for row in storage.stuck_running(db, T0)) == ["k1", "k2"]
        assert storage.renew_action_claims(db, [1, 2], me, T0 + 60 * S) == 2
        assert storage.stuck_running(db, T0) == [storage.action(db, 3)]
    db.close()
